using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Add-D365ODataConfig: saves an OData configuration in the configuration store (or, with
    /// -Temporary, for this session only). Parameters, positions and messages as in d365fo.integrations.</summary>
    [Cmdlet(VerbsCommon.Add, "D365ODataConfig")]
    [OutputType(typeof(void))]
    public sealed class AddD365ODataConfigCommand : PSCmdlet
    {
        [Parameter(Mandatory = true, Position = 0)]
        [ArgumentCompleter(typeof(ConfigNameCompleter))]
        public string Name { get; set; }

        [Alias("$AADGuid")]
        [Parameter(Position = 1)]
        public string Tenant { get; set; }

        [Alias("Uri", "AuthenticationUrl")]
        [Parameter(Position = 2)]
        public string Url { get; set; }

        [Parameter(Position = 3)]
        public string SystemUrl { get; set; }

        [Parameter(Position = 4)]
        public string ClientId { get; set; }

        [Parameter(Position = 5)]
        public string ClientSecret { get; set; }

        [Parameter]
        public SwitchParameter Temporary { get; set; }

        [Parameter]
        public SwitchParameter Force { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            if (string.IsNullOrEmpty(SystemUrl) && !string.IsNullOrEmpty(Url))
                WriteVerbose("You didn't fill in the SystemUrl parameter, which is needed. Expecting that you are working against D365FO and using the Url parameter value.");
            if (!string.IsNullOrEmpty(Url) && Url.EndsWith("/", System.StringComparison.Ordinal))
                WriteVerbose("The Url parameter had a tailing slash, which shouldn't be there. Removing the tailling slash.");
            if (!string.IsNullOrEmpty(SystemUrl) && SystemUrl.EndsWith("/", System.StringComparison.Ordinal))
                WriteVerbose("The SystemUrl parameter had a tailing slash, which shouldn't be there. Removing the tailling slash.");

            var request = ConfigStore.Request("add",
                "name", Name, "tenant", Tenant, "url", Url, "systemurl", SystemUrl, "clientid", ClientId, "clientsecret", ClientSecret,
                "temporary", Temporary.IsPresent, "force", Force.IsPresent);
            if (!ConfigStore.Call(this, EnableException, request, Name, out _)) return;
            WriteVerbose(Temporary
                ? $"The OData configuration '{Name}' is kept for this session only."
                : $"The OData configuration '{Name}' is saved in the configuration store.");
        }
    }
}
