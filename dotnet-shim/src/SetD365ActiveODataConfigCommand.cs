using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Set-D365ActiveODataConfig: makes a configuration the active one, in the shared store or (-Temporary)
    /// for this session only; d365fo.integrations loaded in the session sees the change at once.</summary>
    [Cmdlet(VerbsCommon.Set, "D365ActiveODataConfig", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, HelpUri = HelpLinks.SetActiveConfig)]
    [OutputType(typeof(void))]
    public sealed class SetD365ActiveODataConfigCommand : PSCmdlet
    {
        [Parameter(Mandatory = true, Position = 1)]
        [ArgumentCompleter(typeof(ConfigNameCompleter))]
        public string Name { get; set; }

        [Parameter]
        public SwitchParameter Temporary { get; set; }

        /// <summary>Stops the script on a failure instead of warning (an addition: the original has no such switch).</summary>
        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            if (Core.Call(this, EnableException, Protocol.ConfigSetActive(Name, Temporary, true), Name) == null) return;
            if (!ShouldProcess(Name, Temporary ? "Make the active OData configuration for this session" : "Make the active OData configuration")) return;
            string answer = Core.Call(this, EnableException, Protocol.ConfigSetActive(Name, Temporary, false), Name);
            if (answer == null) return;
            ConfigChange change = ConfigChange.Parse(answer);
            ConfigObjects.MirrorToPsFramework(this, change.Changes, true, Temporary);
            string chosen = change.Configs.Count > 0 ? change.Configs[0].Name : Name;
            WriteVerbose(Temporary ? $"The OData configuration '{chosen}' is active for this session only." : $"The OData configuration '{chosen}' is now the active one.");
        }
    }
}
