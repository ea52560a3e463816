using System;
using System.Collections.Generic;

namespace D365fo.Interactive
{
    /// <summary>Makes the native core see the environment variables as this PowerShell session sees them.
    /// On Linux and macOS, .NET keeps its own copy of the environment: `$env:D365FO_AUTHORITY = …` in a session
    /// never reaches getenv() in native code (the core, its proxy and TLS roots, the clipboard's DISPLAY, the
    /// browser's BROWSER). Before each call into the core, the values of the variables it reads (it names them:
    /// the "environment" operation) are handed to it when they differ from what it was last given, and the core
    /// sets them itself ("environment_set") under Rust's environment lock, which its own threads take to read.
    /// This class never writes the native environment: libc's setenv here, under a lock the core's threads do not
    /// take, could change it while a browser, clipboard or HTTP thread of the core reads it. On Windows both
    /// share one environment block.</summary>
    internal static class NativeEnvironment
    {
        private static readonly object Gate = new object();
        private static List<string> _names;
        /// <summary>What the core was last given, by name (null: unset).</summary>
        private static Dictionary<string, string> _given;

        internal static void Sync()
        {
            if (Platform.IsWindows) return;
            lock (Gate)
            {
                if (_names == null) _names = AskCore();
                var values = new List<KeyValuePair<string, object>>();
                bool differs = _given == null;
                var now = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (string name in _names)
                {
                    string managed = Environment.GetEnvironmentVariable(name);
                    // A NUL cannot be in a C environment; such a value is handed over as unset.
                    if (managed != null && managed.IndexOf('\0') >= 0) managed = null;
                    now[name] = managed;
                    values.Add(new KeyValuePair<string, object>(name, managed));
                    if (!differs && (!_given.TryGetValue(name, out string before) || before != managed)) differs = true;
                }
                if (!differs) return;
                // On failure nothing is remembered, so the next call tries again.
                if (Native.Call(Protocol.EnvironmentSet(values), 0, null, out string _, syncEnvironment: false) == 0) _given = now;
            }
        }

        private static List<string> AskCore()
        {
            var names = new List<string>();
            if (Native.Call(Protocol.Environment(), 0, null, out string answer, syncEnvironment: false) != 0) return names;
            try
            {
                foreach (object n in Json.List(Json.ParseObject(answer), "names"))
                    if (n is string s) names.Add(s);
            }
            catch (FormatException) { }
            return names;
        }
    }
}
