using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ActiveODataConfig: the active OData configuration (the one Get-D365ODataTokenInteractive
    /// uses when -Tenant or -Url is not given), secret masked unless -ShowSecret.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ActiveODataConfig")]
    [OutputType("D365fo.Interactive.ODataConfig", "System.Collections.Hashtable")]
    public sealed class GetD365ActiveODataConfigCommand : PSCmdlet
    {
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
            var request = ConfigStore.Request("get_active", "show_secret", ShowSecret.IsPresent);
            if (!ConfigStore.Call(this, EnableException, request, null, out var config)) return;
            WriteObject(ConfigStore.ToOutput(config, OutputAsHashtable));
        }
    }
}
