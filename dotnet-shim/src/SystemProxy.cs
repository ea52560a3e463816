using System;
using System.Net;

namespace D365fo.Interactive
{
    /// <summary>The Windows system proxy for the authority, as .NET resolves it (WinINET/PAC settings), handed to
    /// the core. Elsewhere, and when a proxy variable is set, the core chooses the proxy itself. The authority
    /// is the effective one, as the core resolves it (settings_get); nothing here repeats a default.</summary>
    internal static class SystemProxy
    {
        internal static string ForAuthority()
        {
            if (!Platform.IsWindows) return null;
            foreach (string v in new[] { "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY" })
                if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v))) return null;
            try
            {
                string answer = Core.TryCall(Protocol.SettingsGet());
                if (answer == null) return null;
                string authority = null;
                foreach (SettingRecord s in SettingRecord.ListFrom(answer, out _))
                    if (s.Key == "authority") authority = s.Value as string;
                if (string.IsNullOrEmpty(authority)) return null;
                var target = new Uri(authority);
                if (target.IsLoopback) return null;
                IWebProxy system = WebRequest.GetSystemWebProxy();
                Uri proxy = system.GetProxy(target);
                if (proxy == null || proxy == target || system.IsBypassed(target)) return null;
                return proxy.GetLeftPart(UriPartial.Authority);
            }
            catch (Exception) { return null; }
        }
    }
}
