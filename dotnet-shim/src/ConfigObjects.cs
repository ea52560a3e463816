using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>The objects the configuration commands return, and what they do after a change.</summary>
    internal static class ConfigObjects
    {
        /// <summary>Type name of the configuration objects; their default display leaves the client secret out.</summary>
        internal const string ConfigTypeName = "D365fo.Interactive.ODataConfig";

        /// <summary>Type name with -ShowSecret: the same object, whose default display includes the client secret.</summary>
        internal const string ConfigWithSecretTypeName = "D365fo.Interactive.ODataConfigWithSecret";

        /// <summary>The properties PowerShell shows by default (Format-List and Format-Table without -Property, and
        /// Out-Default), instead of format data: a module with format data costs every process that imports it the
        /// set-up of PowerShell's format tables, about 25 ms, unless another module paid it first. Five or more
        /// properties show as a list, so a long Url or scope wraps instead of being cut.</summary>
        internal static void SetDefaultDisplay(PSObject o, IEnumerable<string> properties)
        {
            var shown = new List<string>();
            foreach (string p in properties) if (o.Properties[p] != null) shown.Add(p);
            var set = new PSPropertySet("DefaultDisplayPropertySet", shown);
            o.Members.Add(new PSMemberSet("PSStandardMembers", new PSMemberInfo[] { set }));
        }

        /// <summary>Type name of the objects Get-D365ODataInteractiveSetting returns.</summary>
        internal const string SettingTypeName = "D365fo.Interactive.ODataInteractiveSetting";

        /// <summary>A configuration as d365fo.integrations returns it: its properties (the client secret is the
        /// real value, as the original returns it; only the default display leaves it out), or a hashtable to
        /// splat.</summary>
        internal static object ToOutput(ConfigRecord c, bool asHashtable, bool showSecret = false)
        {
            var values = new[]
            {
                ("name", (object)c.Name), ("tenant", c.Tenant), ("url", c.Url), ("systemurl", c.SystemUrl),
                ("clientid", c.ClientId), ("clientsecret", c.ClientSecret),
            };
            if (asHashtable)
            {
                var h = new Hashtable(StringComparer.OrdinalIgnoreCase);
                foreach (var (k, v) in values) h[k] = v;
                return h;
            }
            var o = new PSObject();
            // One type name of ours per object: the view depends on it.
            o.TypeNames.Insert(0, showSecret ? ConfigWithSecretTypeName : ConfigTypeName);
            foreach (var (k, v) in values) o.Properties.Add(new PSNoteProperty(k, v));
            SetDefaultDisplay(o, showSecret
                ? new[] { "name", "tenant", "url", "systemurl", "clientid", "clientsecret" }
                : new[] { "name", "tenant", "url", "systemurl", "clientid" });
            return o;
        }

        /// <summary>Makes a change of the store visible to d365fo.integrations in this session: mirrors the values into
        /// PSFramework's live configuration (when PSFramework is loaded) and, when the active configuration changed,
        /// refreshes the original's module variables the way its own Set-D365ActiveODataConfig does.
        /// A temporary change (-Temporary) made while PSFramework is not loaded exists in this session only, where
        /// a later import of PSFramework cannot read it: it is kept and handed over once PSFramework is loaded
        /// (HandOver, from the command-lookup hooks). A saved change replaces a pending temporary one of the same
        /// name, since PSFramework reads the saved one when it loads.</summary>
        internal static void MirrorToPsFramework(PSCmdlet cmdlet, List<StoreChange> changes, bool activeChanged, bool temporary = false)
        {
            if (changes.Count == 0) return;
            var names = new List<string>();
            var values = new List<object>();
            foreach (StoreChange c in changes) { names.Add(c.FullName); values.Add(c.Value); }
            bool mirrored = false;
            try
            {
                mirrored = Mirrored(cmdlet.InvokeCommand.InvokeScript(false, LiveMirror, null, names.ToArray(), values.ToArray(), activeChanged));
                if (mirrored) cmdlet.WriteVerbose("The change is also in PSFramework's configuration in this session, where d365fo.integrations reads it.");
            }
            catch (RuntimeException e)
            {
                cmdlet.WriteWarning("The change is saved, but d365fo.integrations in this session could not be told (" + e.Message + "); it sees the change after it is imported again.");
            }
            lock (Pending)
            {
                foreach (StoreChange c in changes)
                {
                    if (temporary && !mirrored) Pending[c.FullName] = c.Value;
                    else Pending.Remove(c.FullName);
                }
            }
            if (temporary && !mirrored)
                cmdlet.WriteVerbose("PSFramework is not loaded: the change is handed to it when it is (when d365fo.integrations is imported or autoloaded).");
        }

        /// <summary>Temporary values not yet in PSFramework's live configuration, by full name.</summary>
        private static readonly Dictionary<string, object> Pending = new Dictionary<string, object>(StringComparer.OrdinalIgnoreCase);

        /// <summary>Whether a temporary change waits for PSFramework (cheap; asked at every command lookup).</summary>
        internal static bool HandOverPending
        {
            get { lock (Pending) return Pending.Count > 0; }
        }

        /// <summary>Gives PSFramework, once it is loaded, the temporary values it could not be given before, and
        /// refreshes d365fo.integrations' variables if it is loaded: called from the command-lookup hooks, after a
        /// module was loaded and before a command of d365fo.integrations or PSFramework runs. Returns whether it
        /// handed anything over.</summary>
        internal static bool HandOver(EngineIntrinsics engine)
        {
            string[] names;
            object[] values;
            lock (Pending)
            {
                if (Pending.Count == 0) return false;
                names = new string[Pending.Count];
                values = new object[Pending.Count];
                int i = 0;
                foreach (var kv in Pending) { names[i] = kv.Key; values[i] = kv.Value; i++; }
            }
            if (!Mirrored(engine.InvokeCommand.InvokeScript(false, LiveMirror, null, names, values, true))) return false;
            lock (Pending)
            {
                for (int i = 0; i < names.Length; i++)
                    if (Pending.TryGetValue(names[i], out object v) && Equals(v, values[i])) Pending.Remove(names[i]);
            }
            return true;
        }

        private static bool Mirrored(System.Collections.ObjectModel.Collection<PSObject> result)
        {
            foreach (PSObject o in result) if (o?.BaseObject is bool b) return b;
            return false;
        }

        private static readonly ScriptBlock LiveMirror = ScriptBlock.Create(@"
param([string[]] $Names, [object[]] $Values, [bool] $ActiveChanged)
if (-not (Get-Module PSFramework)) { return $false }
for ($i = 0; $i -lt $Names.Count; $i++) { PSFramework\Set-PSFConfig -FullName $Names[$i] -Value $Values[$i] }
$integrations = Get-Module d365fo.integrations
if ($ActiveChanged -and $integrations) {
    & $integrations { if (Get-Command Update-ODataVariables -CommandType Function -ErrorAction Ignore) { Update-ODataVariables } }
}
$true");
    }
}
