using System;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>The exception carried by this module's error records.</summary>
    public sealed class D365InteractiveException : Exception
    {
        public D365InteractiveException(string message) : base(message) { }
    }

    /// <summary>How a command of this module fails, with d365fo.integrations' semantics:
    /// <list type="bullet">
    /// <item>What the authority or the network said (declined, the authority's expiry, a refused request,
    /// garbage, a broken connection) stops the script, with or without -EnableException, as the original's
    /// rethrow does.</item>
    /// <item>Anything else (a missing Url, -Timeout passing, a refused parameter, a configuration that does not
    /// exist) writes one warning and returns nothing; -EnableException or an explicit -ErrorAction Stop makes
    /// it stop the script instead.</item>
    /// <item>Either way <c>$?</c> is <c>$false</c> afterwards and the error record is in <c>$Error</c>.</item>
    /// </list></summary>
    internal static class CommandFailure
    {
        /// <summary>Error id and category for each result code of the ABI.</summary>
        internal static (string Id, ErrorCategory Category) Classify(ResultCode code)
        {
            switch (code)
            {
                case ResultCode.InvalidRequest: return ("InvalidParameter", ErrorCategory.InvalidArgument);
                case ResultCode.Cancelled: return ("SignInCancelled", ErrorCategory.OperationStopped);
                case ResultCode.TimedOut: return ("SignInTimedOut", ErrorCategory.OperationTimeout);
                case ResultCode.CodeExpired: return ("DeviceCodeExpired", ErrorCategory.OperationTimeout);
                case ResultCode.Declined: return ("SignInDeclined", ErrorCategory.PermissionDenied);
                case ResultCode.AuthorityError: return ("AuthorityError", ErrorCategory.SecurityError);
                case ResultCode.NetworkError: return ("NetworkError", ErrorCategory.ConnectionError);
                case ResultCode.ProtocolError: return ("InvalidAuthorityResponse", ErrorCategory.InvalidResult);
                case ResultCode.StoreError: return ("ConfigurationStoreError", ErrorCategory.ReadError);
                case ResultCode.NotFound: return ("ConfigurationNotFound", ErrorCategory.ObjectNotFound);
                case ResultCode.AlreadyExists: return ("ConfigurationExists", ErrorCategory.ResourceExists);
                case ResultCode.UrlMissing: return ("UrlMissing", ErrorCategory.InvalidArgument);
                case ResultCode.TenantMissing: return ("TenantMissing", ErrorCategory.InvalidArgument);
                case ResultCode.StorePermissionDenied: return ("ConfigurationStoreReadOnly", ErrorCategory.PermissionDenied);
                case ResultCode.Panic: return ("NativeCoreFailure", ErrorCategory.NotSpecified);
                default: return ("NativeCoreError", ErrorCategory.NotSpecified);
            }
        }

        /// <summary>Whether d365fo.integrations would have stopped the script: everything the authority or the network
        /// answered (its function rethrows those), and bugs.</summary>
        internal static bool StopsTheScript(CoreError e)
        {
            switch (e.Code)
            {
                case ResultCode.Declined:
                case ResultCode.AuthorityError:
                case ResultCode.NetworkError:
                case ResultCode.ProtocolError:
                case ResultCode.Panic:
                    return true;
                case ResultCode.CodeExpired:
                    return e.Source == "authority";
                default:
                    return false;
            }
        }

        internal static void Stop(PSCmdlet cmdlet, bool enableException, CoreError error, object target, bool asError = false)
        {
            var (id, category) = Classify(error.Code);
            Stop(cmdlet, enableException, id, category, error.Message, target, StopsTheScript(error), asError);
        }

        /// <summary>Fails the command: a throw when it stops the script, else one warning (and a quiet error record), or,
        /// with <paramref name="asError"/>, one error record shown as PowerShell shows errors.</summary>
        internal static void Stop(PSCmdlet cmdlet, bool enableException, string errorId, ErrorCategory category, string message, object target, bool stopsTheScript = false, bool asError = false)
        {
            message = Sentence(message);
            var record = new ErrorRecord(new D365InteractiveException(message), errorId, category, target);
            // Shown as "<command>: <message>", like errors the command writes itself.
            record.CategoryInfo.Activity = cmdlet.MyInvocation.MyCommand.Name;
            if (stopsTheScript || enableException || ExplicitErrorAction(cmdlet) == ActionPreference.Stop)
            {
                // A throw statement's error: it ends the script (not just this statement) unless caught, as the
                // original's `throw` does; try/catch and trap see this record.
                throw new RuntimeException(message, record.Exception, record) { WasThrownFromThrowStatement = true };
            }
            if (asError)
            {
                cmdlet.WriteError(record);
                return;
            }
            Warn(cmdlet, message);
            WriteErrorQuietly(cmdlet, record);
        }

        /// <summary>A warning as this module writes them all, with the time and the command in front, as
        /// PSFramework's messages have them.</summary>
        internal static void Warn(PSCmdlet cmdlet, string message)
        {
            cmdlet.WriteWarning($"[{DateTime.Now:HH:mm:ss}][{cmdlet.MyInvocation.MyCommand.Name}] {Sentence(message)}");
        }

        private static ActionPreference? ExplicitErrorAction(PSCmdlet cmdlet)
        {
            if (!cmdlet.MyInvocation.BoundParameters.TryGetValue("ErrorAction", out object value)) return null;
            if (value is ActionPreference p) return p;
            return Enum.TryParse(Convert.ToString(value), true, out ActionPreference parsed) ? parsed : (ActionPreference?)null;
        }

        /// <summary>Writes the record so that <c>$?</c> is false and <c>$Error</c> holds it, without showing it a second
        /// time after the warning (as PSFramework's Stop-PSFFunction records it). When the caller chose an error
        /// action explicitly, that choice applies as usual.</summary>
        private static void WriteErrorQuietly(PSCmdlet cmdlet, ErrorRecord record)
        {
            if (ExplicitErrorAction(cmdlet) != null)
            {
                cmdlet.WriteError(record);
                return;
            }
            // A cmdlet reads $ErrorActionPreference from its caller's scope when it first writes an error: set it
            // there for this one write, then put back exactly what was there.
            PSVariable local = cmdlet.SessionState.PSVariable.Get("local:ErrorActionPreference");
            object previous = local?.Value;
            cmdlet.SessionState.PSVariable.Set("ErrorActionPreference", ActionPreference.SilentlyContinue);
            try { cmdlet.WriteError(record); }
            finally
            {
                if (local != null) cmdlet.SessionState.PSVariable.Set("ErrorActionPreference", previous);
                else cmdlet.SessionState.PSVariable.Remove("ErrorActionPreference");
            }
        }

        /// <summary>The core writes messages as clauses; PowerShell shows sentences.</summary>
        internal static string Sentence(string message)
        {
            if (string.IsNullOrEmpty(message)) return message;
            string s = char.ToUpperInvariant(message[0]) + message.Substring(1);
            return s.EndsWith(".", StringComparison.Ordinal) || s.EndsWith(")", StringComparison.Ordinal) ? s : s + ".";
        }
    }
}
