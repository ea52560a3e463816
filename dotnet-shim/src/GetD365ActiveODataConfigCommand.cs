using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ActiveODataConfig: the active OData configuration, the one the sign-in and the data commands
    /// of d365fo.integrations use when -Tenant or -Url is not given.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ActiveODataConfig", HelpUri = HelpLinks.GetActiveConfig)]
    [OutputType("D365fo.Interactive.ODataConfig", "System.Collections.Hashtable")]
    public sealed class GetD365ActiveODataConfigCommand : PSCmdlet
    {
        [Parameter]
        public SwitchParameter OutputAsHashtable { get; set; }

        /// <summary>Shows the client secret in the default view (the objects always carry it, as in the original).</summary>
        [Parameter]
        public SwitchParameter ShowSecret { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            string answer = Core.Call(this, EnableException, Protocol.ConfigActive(), null);
            if (answer == null) return;
            WriteObject(ConfigObjects.ToOutput(ConfigRecord.From(Json.ParseObject(answer)), OutputAsHashtable, ShowSecret));
        }
    }
}
