using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ODataConfig: the OData configurations whose name matches -Name (wildcards), secrets
    /// masked unless -ShowSecret. When none are stored but d365fo.integrations has some, says how to import them.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ODataConfig")]
    [OutputType("D365fo.Interactive.ODataConfig", "System.Collections.Hashtable")]
    public sealed class GetD365ODataConfigCommand : PSCmdlet
    {
        [Parameter(Position = 0)]
        [ArgumentCompleter(typeof(ConfigNameCompleter))]
        public string Name { get; set; } = "*";

        [Parameter]
        public SwitchParameter OutputAsHashtable { get; set; }

        /// <summary>Returns the client secret in clear instead of masked (an addition to d365fo.integrations).</summary>
        [Parameter]
        public SwitchParameter ShowSecret { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            WriteVerbose($"Fetch all configurations based on {Name}");
            var request = ConfigStore.Request("list", "show_secret", ShowSecret.IsPresent, "migration_hint", true);
            if (!ConfigStore.Call(this, EnableException, request, Name, out var answer)) return;

            var pattern = new WildcardPattern(string.IsNullOrEmpty(Name) ? "*" : Name, WildcardOptions.IgnoreCase);
            var matches = new List<List<KeyValuePair<string, object>>>();
            foreach (object c in ConfigStore.List(answer, "configurations"))
            {
                if (c is List<KeyValuePair<string, object>> o && pattern.IsMatch(Json.GetString(o, "name") ?? "")) matches.Add(o);
            }

            if (matches.Count == 0)
            {
                if (Json.Get(answer, "psframework") is List<KeyValuePair<string, object>> legacy)
                {
                    var names = new List<string>();
                    foreach (object n in legacy.Find(kv => kv.Key == "names").Value as List<object> ?? new List<object>()) names.Add(n as string);
                    WriteWarning($"d365fo.interactive has no OData configurations yet, but d365fo.integrations (PSFramework) has {names.Count}: {string.Join(", ", names)}. " +
                                 "Run Import-D365ODataConfig to copy them into this module's configuration store (theirs is left unchanged).");
                }
                CommandFailure.Stop(this, EnableException, "ConfigurationNotFound", ErrorCategory.ObjectNotFound, "No configurations found with the name.", Name);
                return;
            }
            foreach (var o in matches) WriteObject(ConfigStore.ToOutput(o, OutputAsHashtable));
        }
    }
}
