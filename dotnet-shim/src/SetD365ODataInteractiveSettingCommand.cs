using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Set-D365ODataInteractiveSetting: stores module settings for the interactive sign-in (authority,
    /// endpoint version, client id, no-browser) or resets them to their defaults. Environment variables still win.</summary>
    [Cmdlet(VerbsCommon.Set, "D365ODataInteractiveSetting", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
    [OutputType(typeof(void))]
    public sealed class SetD365ODataInteractiveSettingCommand : PSCmdlet
    {
        /// <summary>Authority base URL, e.g. https://login.microsoftonline.com (https; plain http only to loopback).</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string Authority { get; set; }

        [Parameter]
        [ValidateSet("v1", "v2", IgnoreCase = true)]
        public string EndpointVersion { get; set; }

        [Parameter]
        [ValidateNotNullOrEmpty]
        public string ClientId { get; set; }

        [Parameter]
        public bool NoBrowser { get; set; }

        /// <summary>Settings to return to their defaults (applied before the values given in the same call).</summary>
        [Parameter]
        [ValidateSet("Authority", "EndpointVersion", "ClientId", "NoBrowser", IgnoreCase = true)]
        public string[] Reset { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        private static readonly Dictionary<string, string> EnvironmentVariables = new Dictionary<string, string>
        {
            ["Authority"] = "D365FO_AUTHORITY",
            ["EndpointVersion"] = "D365FO_ENDPOINT_VERSION",
            ["ClientId"] = "D365FO_CLIENT_ID",
            ["NoBrowser"] = "D365FO_NO_BROWSER",
        };

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            var bound = MyInvocation.BoundParameters;
            var changed = new List<string>();
            foreach (string n in EnvironmentVariables.Keys) if (bound.ContainsKey(n)) changed.Add(n);
            List<object> reset = null;
            if (Reset != null)
            {
                reset = new List<object>();
                foreach (string r in Reset) reset.Add(GetD365ODataInteractiveSettingCommand.CoreNames[r]);
            }
            if (changed.Count == 0 && reset == null)
            {
                CommandFailure.Stop(this, EnableException, "NoSettingGiven", ErrorCategory.InvalidArgument,
                    "Give at least one of -Authority, -EndpointVersion, -ClientId, -NoBrowser or -Reset.", null);
                return;
            }
            var parts = new List<string>(changed);
            if (Reset != null) parts.Add("reset " + string.Join(", ", Reset));
            if (!ShouldProcess(string.Join("; ", parts), "Set d365fo.interactive settings")) return;

            var request = ConfigStore.Request("set_settings",
                "authority", bound.ContainsKey(nameof(Authority)) ? Authority : null,
                "endpoint_version", bound.ContainsKey(nameof(EndpointVersion)) ? EndpointVersion : null,
                "client_id", bound.ContainsKey(nameof(ClientId)) ? ClientId : null,
                "no_browser", bound.ContainsKey(nameof(NoBrowser)) ? (object)NoBrowser : null,
                "reset", reset);
            if (!ConfigStore.Call(this, EnableException, request, null, out _)) return;

            foreach (string n in changed)
            {
                string variable = EnvironmentVariables[n];
                if (!string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable(variable)))
                    WriteWarning($"The environment variable {variable} is set and overrides the stored {n} in this session.");
            }
            WriteVerbose("The settings are saved; the next sign-in uses them.");
        }
    }
}
