using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>An error reported by the native core: result code, kind and a message fit to show.</summary>
    internal sealed class CoreError
    {
        internal int Code;
        internal string Kind;
        internal string Message;
        internal string AuthorityError;
        internal string Aadsts;

        internal static CoreError FromJson(int code, string json)
        {
            var e = new CoreError { Code = code, Kind = "unknown", Message = "the native core reported error " + code };
            try
            {
                var o = Json.ParseObject(json);
                e.Kind = Json.GetString(o, "kind") ?? e.Kind;
                e.Message = Json.GetString(o, "message") ?? e.Message;
                e.AuthorityError = Json.GetString(o, "error");
                e.Aadsts = Json.GetString(o, "aadsts");
            }
            catch (FormatException) { }
            return e;
        }

        /// <summary>Error id and category for each stable result code of the ABI.</summary>
        internal (string Id, ErrorCategory Category) Classify()
        {
            switch (Code)
            {
                case 3: return ("InvalidParameter", ErrorCategory.InvalidArgument);
                case 4: return ("SignInCancelled", ErrorCategory.OperationStopped);
                case 5: return ("SignInTimedOut", ErrorCategory.OperationTimeout);
                case 6: return ("DeviceCodeExpired", ErrorCategory.OperationTimeout);
                case 7: return ("SignInDeclined", ErrorCategory.PermissionDenied);
                case 8: return ("AuthorityError", ErrorCategory.SecurityError);
                case 9: return ("NetworkError", ErrorCategory.ConnectionError);
                case 10: return ("InvalidAuthorityResponse", ErrorCategory.InvalidResult);
                case 11: return ("ConfigurationStoreError", ErrorCategory.ReadError);
                case 12: return ("ConfigurationNotFound", ErrorCategory.ObjectNotFound);
                case 13: return ("ConfigurationExists", ErrorCategory.ResourceExists);
                case 99: return ("NativeCoreFailure", ErrorCategory.NotSpecified);
                default: return ("NativeCoreError", ErrorCategory.NotSpecified);
            }
        }
    }

    /// <summary>The exception carried by this module's error records.</summary>
    public sealed class D365InteractiveException : Exception
    {
        public D365InteractiveException(string message) : base(message) { }
    }

    /// <summary>Stops a command the way d365fo.integrations (PSFramework's Stop-PSFFunction) does: with
    /// -EnableException a terminating error; without it a warning and an error record in $Error, nothing thrown.</summary>
    internal static class CommandFailure
    {
        internal static void Stop(PSCmdlet cmdlet, bool enableException, string errorId, ErrorCategory category, string message, object target)
        {
            var record = new ErrorRecord(new D365InteractiveException(message), errorId, category, target);
            if (enableException)
            {
                cmdlet.ThrowTerminatingError(record);
            }
            cmdlet.WriteWarning($"[{DateTime.Now:HH:mm:ss}][{cmdlet.MyInvocation.MyCommand.Name}] {message}");
            // Recorded like PSFramework does (Write-Error … 2>&1 into $null): visible in $Error, not shown twice.
            if (cmdlet.SessionState.PSVariable.GetValue("global:Error") is ArrayList errors)
            {
                errors.Insert(0, record);
            }
        }

        internal static void Stop(PSCmdlet cmdlet, bool enableException, CoreError error, object target)
        {
            var (id, category) = error.Classify();
            Stop(cmdlet, enableException, id, category, error.Message, target);
        }
    }
}
