using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Set-D365ActiveODataConfig: makes a configuration the active one, persisted or (-Temporary) for
    /// this session only. Get-D365ODataTokenInteractive reads it at each call, so no re-import is needed.</summary>
    [Cmdlet(VerbsCommon.Set, "D365ActiveODataConfig")]
    [OutputType(typeof(void))]
    public sealed class SetD365ActiveODataConfigCommand : PSCmdlet
    {
        [Parameter(Mandatory = true, Position = 1)]
        [ArgumentCompleter(typeof(ConfigNameCompleter))]
        public string Name { get; set; }

        [Parameter]
        public SwitchParameter Temporary { get; set; }

        /// <summary>Throws instead of warning (an addition: the original has no such switch).</summary>
        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            var request = ConfigStore.Request("set_active", "name", Name, "temporary", Temporary.IsPresent);
            if (!ConfigStore.Call(this, EnableException, request, Name, out var config)) return;
            WriteVerbose(Temporary
                ? $"The OData configuration '{Json.GetString(config, "name")}' is active for this session only."
                : $"The OData configuration '{Json.GetString(config, "name")}' is now the active one.");
        }
    }
}
