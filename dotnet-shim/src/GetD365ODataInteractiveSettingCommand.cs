using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ODataInteractiveSetting: each module setting's effective value and where it comes from
    /// (Environment, Stored or Default), in the order the sign-in applies them.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ODataInteractiveSetting")]
    [OutputType("D365fo.Interactive.ODataInteractiveSetting")]
    public sealed class GetD365ODataInteractiveSettingCommand : PSCmdlet
    {
        [Parameter(Position = 0)]
        [ValidateSet("Authority", "EndpointVersion", "ClientId", "NoBrowser", IgnoreCase = true)]
        public string[] Name { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        /// <summary>The cmdlet names of the settings and their names in the core.</summary>
        internal static readonly Dictionary<string, string> CoreNames = new Dictionary<string, string>(System.StringComparer.OrdinalIgnoreCase)
        {
            ["Authority"] = "authority",
            ["EndpointVersion"] = "endpoint_version",
            ["ClientId"] = "client_id",
            ["NoBrowser"] = "no_browser",
        };

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            if (!ConfigStore.Call(this, EnableException, ConfigStore.Request("effective_settings"), null, out var answer)) return;
            foreach (var entry in CoreNames)
            {
                if (Name != null && System.Array.FindIndex(Name, n => string.Equals(n, entry.Key, System.StringComparison.OrdinalIgnoreCase)) < 0) continue;
                foreach (object s in ConfigStore.List(answer, "settings"))
                {
                    if (!(s is List<KeyValuePair<string, object>> o) || Json.GetString(o, "name") != entry.Value) continue;
                    var pso = new PSObject();
                    pso.TypeNames.Insert(0, ConfigStore.SettingTypeName);
                    string source = Json.GetString(o, "source") ?? "";
                    pso.Properties.Add(new PSNoteProperty("Name", entry.Key));
                    pso.Properties.Add(new PSNoteProperty("Value", Json.Get(o, "value")));
                    pso.Properties.Add(new PSNoteProperty("Source", source.Length > 0 ? char.ToUpperInvariant(source[0]) + source.Substring(1) : source));
                    pso.Properties.Add(new PSNoteProperty("EnvironmentVariable", Json.GetString(o, "environment_variable")));
                    pso.Properties.Add(new PSNoteProperty("Default", Json.Get(o, "default")));
                    WriteObject(pso);
                }
            }
        }
    }
}
