using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Set-D365ODataInteractiveSetting: stores settings of the sign-in, or returns them to their defaults
    /// (-Reset). The core checks each value (the same checks as at sign-in); an environment variable still wins.</summary>
    [Cmdlet(VerbsCommon.Set, "D365ODataInteractiveSetting", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, HelpUri = HelpLinks.SetSetting)]
    [OutputType(typeof(void))]
    public sealed class SetD365ODataInteractiveSettingCommand : PSCmdlet
    {
        /// <summary>Authority base URL, e.g. https://login.microsoftonline.us.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string Authority { get; set; }

        /// <summary>v1 or v2.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string EndpointVersion { get; set; }

        /// <summary>The application (client) id of the public client that signs in.</summary>
        [Parameter]
        [ValidateNotNullOrEmpty]
        public string ClientId { get; set; }

        [Parameter]
        public bool NoBrowser { get; set; }

        /// <summary>The longest one request to the authority may take.</summary>
        [Parameter]
        public int HttpTimeoutSeconds { get; set; }

        /// <summary>Settings to return to their defaults (applied before the values given in the same call).</summary>
        [Parameter]
        [ArgumentCompleter(typeof(SettingNameCompleter))]
        public string[] Reset { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        private static readonly string[] SettingParameters = { nameof(Authority), nameof(EndpointVersion), nameof(ClientId), nameof(NoBrowser), nameof(HttpTimeoutSeconds) };

        protected override void ProcessRecord()
        {
            var bound = MyInvocation.BoundParameters;
            var values = new List<KeyValuePair<string, object>>();
            foreach (string p in SettingParameters)
                if (bound.TryGetValue(p, out object v)) values.Add(new KeyValuePair<string, object>(p, v is int i ? (long)i : v));
            var reset = new List<object>();
            foreach (string r in Reset ?? new string[0]) reset.Add(r);
            if (values.Count == 0 && reset.Count == 0)
            {
                CommandFailure.Stop(this, EnableException, "NoSettingGiven", ErrorCategory.InvalidArgument,
                    "Give at least one setting to store (-Authority, -EndpointVersion, -ClientId, -NoBrowser, -HttpTimeoutSeconds) or -Reset.", null);
                return;
            }
            var parts = new List<string>();
            foreach (var kv in values) parts.Add(kv.Key);
            if (reset.Count > 0) parts.Add("reset " + string.Join(", ", Reset));
            if (!ShouldProcess(string.Join("; ", parts), "Store d365fo.interactive settings")) return;

            string answer = Core.Call(this, EnableException, Protocol.SettingsSet(values, reset), null);
            if (answer == null) return;
            List<SettingRecord> now = SettingRecord.ListFrom(answer, out List<StoreChange> changes);
            ConfigObjects.MirrorToPsFramework(this, changes, false);
            foreach (var kv in values)
            {
                SettingRecord s = now.Find(x => string.Equals(x.Name, kv.Key, System.StringComparison.OrdinalIgnoreCase));
                if (s != null && s.Source == "Environment")
                    WriteWarning($"The environment variable {s.EnvironmentVariable} is set and overrides the stored {s.Name} in this session.");
            }
            WriteVerbose("The settings are saved; the next sign-in uses them.");
        }
    }
}
