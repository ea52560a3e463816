using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Management.Automation;
using System.Threading;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ODataTokenInteractive: signs a person in with the device code flow and returns a bearer
    /// token. The flow runs in the native core on a worker thread; this class only translates parameters,
    /// relays the core's events to the host on the pipeline thread, and shapes the result.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ODataTokenInteractive", DefaultParameterSetName = "Default")]
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

        private const string ProgressActivity = "Signing in to Microsoft Entra ID (device code)";
        private const int ProgressId = 0x365F;

        private ulong _cancelHandle;
        private volatile bool _stopping;

        protected override void ProcessRecord()
        {
            Native.EnsureLoaded();
            if (!ResolveTarget(out string tenant, out string url)) return;

            var request = new List<KeyValuePair<string, object>>
            {
                new KeyValuePair<string, object>("tenant", tenant),
                new KeyValuePair<string, object>("url", url),
                new KeyValuePair<string, object>("timeout_secs", Timeout),
            };
            string proxy = SystemProxy.ForAuthority();
            if (proxy != null) request.Add(new KeyValuePair<string, object>("proxy", proxy));

            NativeEnvironment.Sync();
            int rc = RunFlow(Json.Write(request), out string answer);
            if (_stopping) throw new PipelineStoppedException();
            if (rc != 0)
            {
                CommandFailure.Stop(this, EnableException, CoreError.FromJson(rc, answer), tenant);
                return;
            }
            WriteResult(answer, tenant);
        }

        protected override void StopProcessing()
        {
            // Runs on another thread (Ctrl+C). The core wakes from its wait within 200 ms and returns CANCELLED.
            _stopping = true;
            ulong h = _cancelHandle;
            if (h != 0) Native.CancelRequest(h);
        }

        /// <summary>Tenant and Url from the parameters, else from the active OData configuration (read now,
        /// so Set-D365ActiveODataConfig applies without re-importing).</summary>
        private bool ResolveTarget(out string tenant, out string url)
        {
            tenant = Tenant;
            url = Url;
            bool tenantGiven = MyInvocation.BoundParameters.ContainsKey(nameof(Tenant));
            bool urlGiven = MyInvocation.BoundParameters.ContainsKey(nameof(Url));
            if (!tenantGiven || !urlGiven)
            {
                var active = ConfigStore.TryGetActive(out string activeName);
                if (active != null)
                {
                    if (!tenantGiven) tenant = Json.GetString(active, "tenant");
                    if (!urlGiven) url = Json.GetString(active, "url");
                    WriteVerbose($"Using the active OData configuration '{activeName}' for {(tenantGiven ? "" : "Tenant")}{(!tenantGiven && !urlGiven ? " and " : "")}{(urlGiven ? "" : "Url")}.");
                }
            }

            if (string.IsNullOrEmpty(url))
            {
                CommandFailure.Stop(this, EnableException, "UrlMissing", ErrorCategory.InvalidArgument,
                    "It seems that you didn't supply a valid value for the Url parameter. You need specify the Url parameter or add a configuration with the Add-D365ODataConfig cmdlet.", null);
                return false;
            }
            if (string.IsNullOrEmpty(tenant))
            {
                CommandFailure.Stop(this, EnableException, "TenantMissing", ErrorCategory.InvalidArgument,
                    "It seems that you didn't supply a valid value for the Tenant parameter. You need specify the Tenant parameter or add a configuration with the Add-D365ODataConfig cmdlet.", null);
                return false;
            }
            if (url.EndsWith("/", StringComparison.Ordinal))
            {
                WriteVerbose("The Url parameter had a tailing slash, which shouldn't be there. Removing the tailling slash.");
                url = url.TrimEnd('/');
            }
            return true;
        }

        /// <summary>Runs the native flow on a worker thread and pumps its events on this (the pipeline) thread,
        /// the only thread allowed to write to the host.</summary>
        private int RunFlow(string requestJson, out string answer)
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
                try
                {
                    result = Native.DeviceFlow(Native.Utf8(requestJson), handle, callback, IntPtr.Zero, out IntPtr outJson);
                    output = Native.TakeString(outJson);
                }
                catch (Exception e)
                {
                    result = 99;
                    output = "{\"code\":99,\"kind\":\"panic\",\"message\":" + Json.Write("the native call failed: " + e.Message) + "}";
                }
                finally { events.CompleteAdding(); }
            }) { IsBackground = true, Name = "d365fo.interactive device flow" };

            var relay = new EventRelay(this);
            try
            {
                worker.Start();
                foreach (string ev in events.GetConsumingEnumerable())
                {
                    if (!_stopping) relay.Handle(ev);
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
                if (!_stopping) relay.Complete();
            }
            answer = output;
            return result;
        }

        private void WriteResult(string answer, string tenant)
        {
            List<KeyValuePair<string, object>> response;
            try { response = Json.ParseObject(answer); }
            catch (FormatException)
            {
                CommandFailure.Stop(this, EnableException, "InvalidAuthorityResponse", ErrorCategory.InvalidResult, "The token response from the authority is not a JSON object.", tenant);
                return;
            }
            string accessToken = Json.GetString(response, "access_token");
            if (string.IsNullOrEmpty(accessToken))
            {
                CommandFailure.Stop(this, EnableException, "InvalidAuthorityResponse", ErrorCategory.InvalidResult, "The token response from the authority carries no access_token.", tenant);
                return;
            }
            if (RawOutput) WriteObject(ODataToken.Create(response, accessToken));
            else WriteObject("Bearer " + accessToken);
        }

        /// <summary>Turns the core's events into host lines, progress and verbose messages.</summary>
        private sealed class EventRelay
        {
            private readonly PSCmdlet _cmd;
            private string _userCode, _url;
            private bool _progressShown;

            internal EventRelay(PSCmdlet cmd) { _cmd = cmd; }

            internal void Handle(string json)
            {
                List<KeyValuePair<string, object>> e;
                try { e = Json.ParseObject(json); } catch (FormatException) { return; }
                switch (Json.GetString(e, "event"))
                {
                    case "code_issued":
                        _userCode = Json.GetString(e, "user_code");
                        _url = Json.GetString(e, "verification_url");
                        long expires = Json.GetLong(e, "expires_in") ?? 0;
                        string message = Json.GetString(e, "message");
                        Host(string.IsNullOrEmpty(message)
                            ? $"To sign in, use a web browser to open the page {_url} and enter the code {_userCode} to authenticate."
                            : message);
                        if (expires > 0)
                            Host($"The code expires in {FormatSpan(expires)}, at {DateTime.Now.AddSeconds(expires).ToString("T", CultureInfo.CurrentCulture)}.");
                        break;
                    case "clipboard":
                        if (Json.GetBool(e, "ok")) Host($"The device code {_userCode} has been copied into your clipboard.");
                        else Host($"The device code could not be copied into your clipboard: {Json.GetString(e, "reason")}. Type it in yourself: {_userCode}");
                        break;
                    case "browser":
                        if (Json.GetBool(e, "ok"))
                            Host($"The default browser has been started on {_url}, where you need to paste the code in and complete sign-in with your credentials.");
                        else if (Json.GetBool(e, "skipped"))
                            Host($"Not opening a browser: {Json.GetString(e, "reason")}. Open {_url} on any device and enter the code {_userCode}.");
                        else
                            Host($"The browser could not be started: {Json.GetString(e, "reason")}. Open {_url} on any device and enter the code {_userCode}.");
                        break;
                    case "tick":
                        long left = Json.GetLong(e, "seconds_left") ?? 0;
                        long total = Json.GetLong(e, "seconds_total") ?? 0;
                        var p = new ProgressRecord(ProgressId, ProgressActivity,
                            $"Waiting for you to sign in at {_url} with the code {_userCode}")
                        {
                            SecondsRemaining = (int)Math.Min(int.MaxValue, Math.Max(0, left)),
                            PercentComplete = total > 0 ? (int)Math.Max(0, Math.Min(100, 100 - left * 100 / total)) : -1,
                        };
                        _cmd.WriteProgress(p);
                        _progressShown = true;
                        break;
                    case "log":
                        _cmd.WriteVerbose(Json.GetString(e, "message") ?? "");
                        break;
                }
            }

            internal void Complete()
            {
                if (!_progressShown) return;
                _cmd.WriteProgress(new ProgressRecord(ProgressId, ProgressActivity, "Done") { RecordType = ProgressRecordType.Completed });
            }

            private void Host(string text)
            {
                // Like Write-Host: shown on the host even when the output is captured ($t = Get-…), and
                // capturable as information (6>).
                _cmd.WriteInformation(new HostInformationMessage { Message = text }, new[] { "PSHOST" });
            }

            private static string FormatSpan(long seconds)
            {
                if (seconds % 60 == 0) return seconds / 60 == 1 ? "1 minute" : (seconds / 60) + " minutes";
                return seconds + " seconds";
            }
        }
    }
}
