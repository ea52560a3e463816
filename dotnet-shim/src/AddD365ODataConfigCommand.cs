using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Add-D365ODataConfig: saves an OData configuration in the store shared with d365fo.integrations (or,
    /// with -Temporary, for this session only). Parameters and positions as in the original; every value is
    /// checked before anything is saved; -Force over an existing configuration changes only the values given.</summary>
    [Cmdlet(VerbsCommon.Add, "D365ODataConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, HelpUri = HelpLinks.AddConfig)]
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
            string Request(bool dryRun) => Protocol.ConfigAdd(Name, Tenant, Url, SystemUrl, ClientId, ClientSecret, Temporary, Force, dryRun);

            // Check everything first, so -WhatIf and -Confirm describe a change that would succeed; the dry run's
            // changes name exactly the values that would be written (a SystemUrl taken from -Url included).
            string planned = Core.Call(this, EnableException, Request(true), Name);
            if (planned == null) return;
            bool exists = ExistsAlready();
            var given = new List<string>();
            List<StoreChange> plannedChanges = ConfigChange.Parse(planned).Changes;
            if (string.IsNullOrEmpty(SystemUrl) && !string.IsNullOrEmpty(Url))
                WriteVerbose(plannedChanges.Exists(c => c.FullName.EndsWith(".systemurl", StringComparison.OrdinalIgnoreCase))
                    ? "No SystemUrl was given: the Url is also where the data commands call (as in d365fo.integrations)."
                    : "No SystemUrl was given: the configuration's own SystemUrl, which differs from its Url, stays.");
            foreach (StoreChange c in plannedChanges)
            {
                string property = c.FullName.Substring(c.FullName.LastIndexOf('.') + 1);
                foreach (string p in new[] { nameof(Tenant), nameof(Url), nameof(SystemUrl), nameof(ClientId), nameof(ClientSecret) })
                    if (string.Equals(p, property, System.StringComparison.OrdinalIgnoreCase)) given.Add(p);
            }
            string where = Temporary ? "for this session" : "in the configuration store shared with d365fo.integrations";
            string action = exists
                ? $"Change {(given.Count > 0 ? string.Join(", ", given) : "nothing but the name")} of the existing OData configuration {where}"
                : $"Add the OData configuration {where}";
            if (!ShouldProcess(Name, action)) return;

            string answer = Core.Call(this, EnableException, Request(false), Name);
            if (answer == null) return;
            ConfigChange change = ConfigChange.Parse(answer);
            ConfigObjects.MirrorToPsFramework(this, change.Changes, change.ActiveChanged, Temporary);
            WriteVerbose(Temporary
                ? $"The OData configuration '{Name}' is kept for this session only."
                : $"The OData configuration '{Name}' is saved in the configuration store.");
        }

        private bool ExistsAlready()
        {
            string list = Core.TryCall(Protocol.ConfigList());
            if (list == null) return false;
            foreach (ConfigRecord c in ConfigRecord.ListFrom(Json.ParseObject(list), "configs"))
                if (string.Equals(c.Name, Name?.Trim(), System.StringComparison.OrdinalIgnoreCase)) return true;
            return false;
        }
    }
}
