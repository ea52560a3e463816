using System;
using System.Net;

namespace D365fo.Interactive
{
    /// <summary>The Windows system proxy for the authority, as .NET resolves it (WinINET/PAC settings), handed to
    /// the core. Elsewhere the core reads HTTPS_PROXY/HTTP_PROXY/ALL_PROXY/NO_PROXY itself.</summary>
    internal static class SystemProxy
    {
        internal static string ForAuthority()
        {
            if (!Platform.IsWindows) return null;
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HTTPS_PROXY")) ||
                !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("HTTP_PROXY")) ||
                !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ALL_PROXY"))) return null;
            try
            {
                string authority = Environment.GetEnvironmentVariable("D365FO_AUTHORITY");
                if (string.IsNullOrEmpty(authority)) authority = ConfigStore.TryGetSetting("authority") ?? "https://login.microsoftonline.com";
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
