using System.Collections;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Set-D365ODataTokenInSession: makes a bearer token the default -Token of every command for the session.</summary>
    [Cmdlet(VerbsCommon.Set, "D365ODataTokenInSession")]
    [OutputType(typeof(void))]
    public sealed class SetD365ODataTokenInSessionCommand : PSCmdlet
    {
        /// <summary>The bearer token ("Bearer ey…"), as Get-D365ODataTokenInteractive returns it.</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
        public string BearerToken { get; set; }

        protected override void ProcessRecord()
        {
            // Mutate the global dictionary, as the original's $Global:PSDefaultParameterValues['*:Token'] = … does;
            // replacing the variable would lose the user's other defaults.
            PSVariable v = SessionState.PSVariable.Get("global:PSDefaultParameterValues");
            object value = v?.Value is PSObject p ? p.BaseObject : v?.Value;
            if (value is IDictionary dict)
            {
                dict["*:Token"] = BearerToken;
            }
            else
            {
                SessionState.PSVariable.Set("global:PSDefaultParameterValues", new Hashtable { ["*:Token"] = BearerToken });
            }
            WriteVerbose("The bearer token is now the default value of -Token for all commands in this session.");
        }
    }
}
