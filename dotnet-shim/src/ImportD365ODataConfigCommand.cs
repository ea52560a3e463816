using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Import-D365ODataConfig: copies OData configurations from another PSFramework configuration file (an
    /// export, or another user's or PowerShell edition's file) into the store shared with d365fo.integrations.
    /// The source is only read.</summary>
    [Cmdlet(VerbsData.Import, "D365ODataConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, HelpUri = HelpLinks.ImportConfig)]
    [OutputType("D365fo.Interactive.ODataConfig")]
    public sealed class ImportD365ODataConfigCommand : PSCmdlet
    {
        /// <summary>A PSFramework configuration file (psf_config.json) or the folder holding it.</summary>
        [Parameter(Mandatory = true, Position = 0)]
        public string Path { get; set; }

        /// <summary>Which configurations to import (wildcards); all by default.</summary>
        [Parameter(Position = 1)]
        public string Name { get; set; } = "*";

        /// <summary>Overwrites configurations with the same name.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            string path = GetUnresolvedProviderPathFromPSPath(Path);
            string scanned = Core.Call(this, EnableException, Protocol.ConfigScan(path), path);
            if (scanned == null) return;
            var scan = Json.ParseObject(scanned);
            var problems = new List<string>();
            foreach (object p in Json.List(scan, "problems")) problems.Add(Convert.ToString(p, System.Globalization.CultureInfo.InvariantCulture));
            var pattern = new WildcardPattern(string.IsNullOrEmpty(Name) ? "*" : Name, WildcardOptions.IgnoreCase);
            var names = new List<object>();
            foreach (ConfigRecord c in ConfigRecord.ListFrom(scan, "configs"))
                if (c.Name != null && pattern.IsMatch(c.Name)) names.Add(c.Name);
            if (names.Count == 0)
            {
                // One failure: when nothing could be read, that is the reason nothing was found.
                if (problems.Count > 0)
                    CommandFailure.Stop(this, EnableException, "ConfigurationFileUnreadable", ErrorCategory.ReadError,
                        $"Nothing was imported: the PSFramework configuration file could not be read ({string.Join("; ", problems)})", path);
                else
                    CommandFailure.Stop(this, EnableException, "ConfigurationNotFound", ErrorCategory.ObjectNotFound,
                        $"No OData configurations matching '{Name}' were found in '{path}'.", Name);
                return;
            }
            foreach (string p in problems) CommandFailure.Warn(this, $"A PSFramework configuration file could not be read and was left out: {p}");
            string planned = Core.Call(this, EnableException, Protocol.ConfigImport(path, names, Force, true), path);
            if (planned == null) return;
            ConfigChange plan = ConfigChange.Parse(planned);
            foreach (string s in plan.Skipped)
                CommandFailure.Warn(this, $"An OData configuration with {s} as name already exists. It was not imported; supply the -Force parameter to overwrite it.");
            foreach (var r in plan.Refused)
                CommandFailure.Warn(this, $"The OData configuration {r.Key} was not imported: {CommandFailure.Sentence(r.Value)}");
            // A SystemUrl on another host than the Url, and an active choice taken over: said before it happens.
            foreach (string n in plan.Notes) CommandFailure.Warn(this, n);
            if (plan.Configs.Count == 0) return;
            var importing = new List<string>();
            foreach (ConfigRecord c in plan.Configs) importing.Add(c.Name);
            if (!ShouldProcess(string.Join(", ", importing), $"Import from '{path}' into the configuration store shared with d365fo.integrations")) return;
            var chosen = new List<object>(importing);
            string answer = Core.Call(this, EnableException, Protocol.ConfigImport(path, chosen, Force, false), path);
            if (answer == null) return;
            ConfigChange change = ConfigChange.Parse(answer);
            ConfigObjects.MirrorToPsFramework(this, change.Changes, change.ActiveChanged);
            foreach (ConfigRecord c in change.Configs) WriteObject(ConfigObjects.ToOutput(c, false));
        }
    }
}
