using System;
using System.Net;

namespace D365fo.Interactive
{
    /// <summary>The Windows system proxy for the authority, as .NET resolves it (WinINET/PAC settings), handed to
    /// the core, which alone decides whether it applies (a proxy variable or NO_PROXY comes first). The
    /// authority is the effective one, as the core resolves it (settings_get); nothing here repeats a default
    /// or a variable name.</summary>
    internal static class SystemProxy
    {
        internal static string ForAuthority()
        {
            if (!Platform.IsWindows) return null;
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
