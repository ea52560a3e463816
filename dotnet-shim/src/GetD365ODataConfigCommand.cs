using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ODataConfig: the OData configurations whose name matches -Name (wildcards), from the store
    /// shared with d365fo.integrations and this session's temporary ones.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ODataConfig", HelpUri = HelpLinks.GetConfig)]
    [OutputType("D365fo.Interactive.ODataConfig", "System.Collections.Hashtable")]
    public sealed class GetD365ODataConfigCommand : PSCmdlet
    {
        [Parameter(Position = 0)]
        [ArgumentCompleter(typeof(ConfigNameCompleter))]
        public string Name { get; set; } = "*";

        [Parameter]
        public SwitchParameter OutputAsHashtable { get; set; }

        /// <summary>Shows the client secret in the default view (the objects always carry it, as in the original).</summary>
        [Parameter]
        public SwitchParameter ShowSecret { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            WriteVerbose($"Fetch all configurations based on {Name}");
            string answer = Core.Call(this, EnableException, Protocol.ConfigList(), Name);
            if (answer == null) return;
            var pattern = new WildcardPattern(string.IsNullOrEmpty(Name) ? "*" : Name, WildcardOptions.IgnoreCase);
            int found = 0;
            foreach (ConfigRecord c in ConfigRecord.ListFrom(Json.ParseObject(answer), "configs"))
            {
                if (!pattern.IsMatch(c.Name ?? "")) continue;
                WriteObject(ConfigObjects.ToOutput(c, OutputAsHashtable, ShowSecret));
                found++;
            }
            if (found == 0)
                CommandFailure.Stop(this, EnableException, "ConfigurationNotFound", ErrorCategory.ObjectNotFound, "No configurations found with the name.", Name);
        }
    }
}
