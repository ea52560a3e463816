using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.Management.Automation;
using System.Threading;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ODataTokenInteractive: a bearer token for the OData and custom-service endpoints. The
    /// session's token when it is still good for a while, else renewed silently, else a device code sign-in.
    /// The work runs in the native core on a worker thread; this class translates parameters, shows the core's
    /// events on the host (the pipeline thread), and shapes the result.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ODataTokenInteractive", DefaultParameterSetName = "Default", HelpUri = HelpLinks.GetToken)]
    [OutputType(typeof(string), typeof(ODataToken))]
    public sealed class GetD365ODataTokenInteractiveCommand : PSCmdlet
    {
        [Alias("$AadGuid")]
        [Parameter(Position = 0)]
        public string Tenant { get; set; }

        [Alias("Uri", "Resource")]
        [Parameter(Position = 1)]
        public string Url { get; set; }

        [Parameter(Position = 2, DontShow = true)]
        public int Timeout { get; set; } = 300;

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        [Parameter]
        public SwitchParameter RawOutput { get; set; }

        /// <summary>Signs in again even when the session holds a token (an addition to d365fo.integrations).</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        private const string ProgressActivity = "Signing in to Microsoft Entra ID (device code)";
        private const int ProgressId = 0x365F;

        private ulong _cancelHandle;
        private volatile bool _stopping;

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            var bound = MyInvocation.BoundParameters;
            string request = Protocol.SignIn(
                bound.ContainsKey(nameof(Tenant)) ? Tenant : null,
                bound.ContainsKey(nameof(Url)) ? Url : null,
                Timeout,
                Force.IsPresent,
                SystemProxy.ForAuthority());
            int rc = Run(request, out string answer);
            if (_stopping) throw new PipelineStoppedException();
            if (rc != 0)
            {
                CommandFailure.Stop(this, EnableException, CoreError.FromJson(rc, answer), Tenant);
                return;
            }
            TokenAnswer token = TokenAnswer.Parse(answer);
            Core.Host(this, Outcome(token));
            if (RawOutput) WriteObject(ODataToken.Create(token));
            else WriteObject("Bearer " + token.AccessToken);
        }

        protected override void StopProcessing()
        {
            // Runs on another thread (Ctrl+C). The core wakes from its wait within 200 ms and returns CANCELLED.
            _stopping = true;
            ulong h = _cancelHandle;
            if (h != 0) Native.CancelRequest(h);
        }

        /// <summary>One line after the sign-in: who, for what, until when, and where the token came from.</summary>
        private static string Outcome(TokenAnswer t)
        {
            string who = string.IsNullOrEmpty(t.Who) ? "" : " as " + t.Who;
            string until = t.ExpiresOn.ToLocalTime().ToString("t", CultureInfo.CurrentCulture);
            switch (t.Source)
            {
                case TokenSource.Cache:
                    return $"Using this session's token{who} for {t.Resource}, valid until {until}; -Force signs in again.";
                case TokenSource.Refresh:
                    return $"Renewed this session's token{who} for {t.Resource} without a new sign-in; valid until {until}.";
                default:
                    return $"Signed in{who} for {t.Resource}; the token is valid until {until}.";
            }
        }

        /// <summary>Runs the call on a worker thread and shows its events on this (the pipeline) thread, the only
        /// thread allowed to write to the host.</summary>
        private int Run(string requestJson, out string answer)
        {
            var events = new BlockingCollection<string>();
            Native.EventCallback callback = (userdata, json) =>
            {
                // Never let an exception unwind into the native core.
                try { events.Add(Native.ReadUtf8(json)); } catch { }
            };
            int rc = Native.CancelNew(out ulong handle);
            if (rc != 0) throw new InvalidOperationException("the native core could not create a cancellation handle (code " + rc + ")");
            _cancelHandle = handle;
            if (_stopping) Native.CancelRequest(handle);

            int result = 0;
            string output = null;
            var worker = new Thread(() =>
            {
                try { result = Native.Call(requestJson, handle, callback, out output); }
                catch (Exception e)
                {
                    result = (int)ResultCode.Panic;
                    output = "{\"code\":99,\"kind\":\"panic\",\"message\":" + Json.Write("the native call failed: " + e.Message) + "}";
                }
                finally { events.CompleteAdding(); }
            }) { IsBackground = true, Name = "d365fo.interactive sign-in" };

            var screen = new WaitingScreen(this);
            try
            {
                worker.Start();
                foreach (string ev in events.GetConsumingEnumerable())
                {
                    if (!_stopping) screen.Show(CoreEvent.Parse(ev));
                }
            }
            finally
            {
                if (worker.IsAlive)
                {
                    // Only reached when a write threw (pipeline stopping): make the core return before we leave.
                    Native.CancelRequest(handle);
                    worker.Join();
                }
                GC.KeepAlive(callback);
                _cancelHandle = 0;
                Native.CancelFree(handle);
                if (!_stopping) screen.Complete();
            }
            answer = output;
            return result;
        }

        /// <summary>What a person sees while the core waits: the page and the code once, one deadline as a time,
        /// what happened with the clipboard and the browser, and a countdown.</summary>
        private sealed class WaitingScreen
        {
            private readonly PSCmdlet _cmd;
            private string _userCode, _url;
            private bool _progressShown;

            internal WaitingScreen(PSCmdlet cmd) { _cmd = cmd; }

            internal void Show(CoreEvent e)
            {
                if (e == null) return;
                switch (e.Kind)
                {
                    case "code_issued":
                        _userCode = e.Text("user_code");
                        _url = e.Text("verification_url");
                        long wait = Math.Max(0, Math.Min(e.Number("wait_secs"), 86_400));
                        string until = DateTime.Now.AddSeconds(wait).ToString("T", CultureInfo.CurrentCulture);
                        string why = e.Text("wait_ends_by") == "timeout" ? "the -Timeout" : "when the code expires";
                        string refused = e.Text("page_refused");
                        if (!string.IsNullOrEmpty(refused) || string.IsNullOrEmpty(_url))
                        {
                            // The page the authority named is not shown, not opened: it could be any site.
                            _url = null;
                            _cmd.WriteWarning($"The sign-in page the authority named was refused and is neither shown nor opened: {refused ?? "it is missing"}. " +
                                "Enter the code only on a sign-in page you trust (for Microsoft Entra ID: https://microsoft.com/devicelogin).");
                            Core.Host(_cmd, $"To sign in, enter the code {_userCode}");
                        }
                        else Core.Host(_cmd, $"To sign in, open {_url} and enter the code {_userCode}");
                        Core.Host(_cmd, $"Waiting until {until} ({Span(wait)}, {why}); Ctrl+C stops.");
                        string message = e.Text("message");
                        if (!string.IsNullOrEmpty(message)) _cmd.WriteVerbose("The authority's instructions: " + message);
                        break;
                    case "clipboard":
                        Core.Host(_cmd, e.Flag("ok") ? "The code is on your clipboard." : $"The code is not on your clipboard: {e.Text("reason")}.");
                        break;
                    case "browser":
                        if (e.Flag("ok")) Core.Host(_cmd, "Your browser has opened the sign-in page.");
                        else if (e.Flag("skipped")) Core.Host(_cmd, $"No browser was opened: {e.Text("reason")}. Open the page on any device.");
                        else Core.Host(_cmd, $"Your browser could not be opened: {e.Text("reason")}. Open the page on any device.");
                        break;
                    case "tick":
                        long left = e.Number("seconds_left");
                        long total = e.Number("seconds_total");
                        string where = _url == null ? "" : $" at {_url}";
                        var p = new ProgressRecord(ProgressId, ProgressActivity, $"Waiting for you to sign in{where} with the code {_userCode}")
                        {
                            SecondsRemaining = (int)Math.Min(int.MaxValue, Math.Max(0, left)),
                            PercentComplete = total > 0 ? (int)Math.Max(0, Math.Min(100, 100 - left * 100 / total)) : -1,
                        };
                        _cmd.WriteProgress(p);
                        _progressShown = true;
                        break;
                    case "refresh_refused":
                        Core.Host(_cmd, $"This session's token could not be renewed: {e.Text("reason")}. Signing in again.");
                        break;
                    default:
                        Core.ShowEvent(_cmd, e);
                        break;
                }
            }

            internal void Complete()
            {
                if (!_progressShown) return;
                _cmd.WriteProgress(new ProgressRecord(ProgressId, ProgressActivity, "Done") { RecordType = ProgressRecordType.Completed });
            }

            private static string Span(long seconds)
            {
                if (seconds >= 120 && seconds % 60 == 0) return (seconds / 60) + " minutes";
                if (seconds >= 120) return $"{seconds / 60} minutes {seconds % 60} seconds";
                return seconds == 1 ? "1 second" : seconds + " seconds";
            }
        }
    }
}
