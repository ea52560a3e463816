using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Import-D365ODataConfig: copies the OData configurations that d365fo.integrations persisted through
    /// PSFramework into this module's store. PSFramework's files and registry are only read, never changed.</summary>
    [Cmdlet(VerbsData.Import, "D365ODataConfig")]
    [OutputType("D365fo.Interactive.ODataConfig")]
    public sealed class ImportD365ODataConfigCommand : PSCmdlet
    {
        /// <summary>Which configurations to import (wildcards); all by default.</summary>
        [Parameter(Position = 0)]
        [ArgumentCompleter(typeof(ConfigNameCompleter))]
        public string Name { get; set; } = "*";

        /// <summary>A PSFramework configuration file (psf_config.json) or the folder holding it, instead of the
        /// current user's PSFramework locations.</summary>
        [Parameter]
        public string Path { get; set; }

        /// <summary>Overwrites configurations with the same name in this module's store.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            string path = string.IsNullOrEmpty(Path) ? null : GetUnresolvedProviderPathFromPSPath(Path);
            if (!ConfigStore.Call(this, EnableException, ConfigStore.Request("psframework_scan", "path", path), path, out var scan)) return;
            foreach (object p in ConfigStore.List(scan, "problems")) WriteWarning($"A PSFramework configuration source could not be read: {p}");

            var pattern = new WildcardPattern(string.IsNullOrEmpty(Name) ? "*" : Name, WildcardOptions.IgnoreCase);
            var names = new List<object>();
            foreach (object c in ConfigStore.List(scan, "configurations"))
            {
                if (c is List<KeyValuePair<string, object>> o && Json.GetString(o, "name") is string n && pattern.IsMatch(n)) names.Add(n);
            }
            if (names.Count == 0)
            {
                var sources = ConfigStore.List(scan, "sources");
                CommandFailure.Stop(this, EnableException, "ConfigurationNotFound", ErrorCategory.ObjectNotFound,
                    path != null
                        ? $"No OData configurations of d365fo.integrations matching '{Name}' were found in '{path}'."
                        : $"No OData configurations of d365fo.integrations matching '{Name}' were found in PSFramework's settings of this user" +
                          (sources.Count > 0 ? $" ({string.Join(", ", sources)})." : "."),
                    Name);
                return;
            }

            var request = ConfigStore.Request("import_psframework", "path", path, "names", names, "force", Force.IsPresent);
            if (!ConfigStore.Call(this, EnableException, request, Name, out var result)) return;
            foreach (object s in ConfigStore.List(result, "skipped"))
            {
                WriteWarning($"An OData configuration with {s} as name already exists. It was not imported; supply the -Force parameter to overwrite it.");
            }
            if (Json.GetString(result, "active_set") is string active) WriteVerbose($"'{active}', the active configuration of d365fo.integrations, is now the active one.");
            foreach (object c in ConfigStore.List(result, "imported"))
            {
                if (c is List<KeyValuePair<string, object>> o) WriteObject(ConfigStore.ToOutput(o, false));
            }
        }
    }
}
