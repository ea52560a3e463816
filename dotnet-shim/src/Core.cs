using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Calls into the native core for the cmdlets that do not wait on a person (everything but the sign-in):
    /// runs the request on the pipeline thread, shows the events it reported, and turns a failure into the
    /// module's failure semantics (CommandFailure).</summary>
    internal static class Core
    {
        /// <summary>Runs one request; returns the answer JSON, or null after reporting the failure (as an error
        /// record shown as such with <paramref name="asError"/>: the commands that d365fo.integrations does not have).</summary>
        internal static string Call(PSCmdlet cmdlet, bool enableException, string request, object target, bool asError = false)
        {
            Native.EnsureLoaded();
            var events = new List<string>();
            Native.EventCallback callback = (userdata, json) =>
            {
                // Never let an exception unwind into the native core.
                try { events.Add(Native.ReadUtf8(json)); } catch { }
            };
            int rc = Native.Call(request, 0, callback, out string answer);
            foreach (string json in events) ShowEvent(cmdlet, CoreEvent.Parse(json));
            if (rc == 0) return answer;
            CommandFailure.Stop(cmdlet, enableException, CoreError.FromJson(rc, answer), target, asError);
            return null;
        }

        /// <summary>The events a quick call may report: notices for the host, diagnostics for -Verbose.</summary>
        internal static void ShowEvent(PSCmdlet cmdlet, CoreEvent e)
        {
            if (e == null) return;
            if (e.Kind == "notice") Host(cmdlet, e.Text("message"));
            else if (e.Kind == "warning") cmdlet.WriteWarning(e.Text("message") ?? "");
            else if (e.Kind == "log") cmdlet.WriteVerbose(e.Text("message") ?? "");
        }

        /// <summary>A line on the host, like Write-Host: shown even when the output is captured, and capturable as
        /// information (6>).</summary>
        internal static void Host(PSCmdlet cmdlet, string text)
        {
            cmdlet.WriteInformation(new HostInformationMessage { Message = text }, new[] { "PSHOST" });
        }

        /// <summary>A quiet call for tab completion and lookups: the answer, or null; never writes anything.</summary>
        internal static string TryCall(string request)
        {
            try
            {
                Native.EnsureLoaded();
                return Native.Call(request, 0, null, out string answer) == 0 ? answer : null;
            }
            catch (Exception) { return null; }
        }
    }
}
