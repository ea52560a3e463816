using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Set-D365ODataTokenInSession: makes a bearer token the default -Token of the D365 commands for the
    /// rest of the session (see SessionDefault).</summary>
    [Cmdlet(VerbsCommon.Set, "D365ODataTokenInSession", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, HelpUri = HelpLinks.SetTokenInSession)]
    [OutputType(typeof(void))]
    public sealed class SetD365ODataTokenInSessionCommand : PSCmdlet
    {
        /// <summary>The bearer token ("Bearer ey…"), as Get-D365ODataTokenInteractive returns it.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        public string BearerToken { get; set; }

        protected override void ProcessRecord()
        {
            if (!ShouldProcess("-Token of the D365 commands in this session ($PSDefaultParameterValues['" + SessionDefault.Key + "'])", "Set the default")) return;
            string kind = SessionDefault.Install(this, BearerToken);
            WriteVerbose("The default -Token of the D365 commands in this session is now " + kind + ".");
        }
    }
}
