using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>Thin calls into the native configuration store (d365fo_config) and the objects the cmdlets return.</summary>
    internal static class ConfigStore
    {
        /// <summary>Type name of the configuration objects (format data and Get-Member use it).</summary>
        internal const string ConfigTypeName = "D365fo.Interactive.ODataConfig";

        /// <summary>Type name of the objects Get-D365ODataInteractiveSetting returns.</summary>
        internal const string SettingTypeName = "D365fo.Interactive.ODataInteractiveSetting";

        /// <summary>The properties of a configuration, in the order shown, as in d365fo.integrations.</summary>
        internal static readonly string[] ConfigProperties = { "name", "tenant", "url", "systemurl", "clientid", "clientsecret" };

        /// <summary>The active OData configuration, or null when none is active (or the store cannot say).</summary>
        internal static List<KeyValuePair<string, object>> TryGetActive(out string name)
        {
            name = null;
            int rc = Native.CallConfig("{\"op\":\"get_active\"}", out string answer);
            if (rc != 0) return null;
            try
            {
                var o = Json.ParseObject(answer);
                name = Json.GetString(o, "name");
                return o;
            }
            catch (FormatException) { return null; }
        }

        /// <summary>A stored module setting ("authority", "endpoint_version", "client_id", "no_browser"), or null.</summary>
        internal static string TryGetSetting(string key)
        {
            int rc = Native.CallConfig("{\"op\":\"get_settings\"}", out string answer);
            if (rc != 0) return null;
            try { return Json.Get(Json.ParseObject(answer), key) as string; }
            catch (FormatException) { return null; }
        }

        /// <summary>A request object {"op": op, key: value, ...}; null values are left out.</summary>
        internal static List<KeyValuePair<string, object>> Request(string op, params object[] keysAndValues)
        {
            var r = new List<KeyValuePair<string, object>> { new KeyValuePair<string, object>("op", op) };
            for (int i = 0; i + 1 < keysAndValues.Length; i += 2)
            {
                if (keysAndValues[i + 1] != null) r.Add(new KeyValuePair<string, object>((string)keysAndValues[i], keysAndValues[i + 1]));
            }
            return r;
        }

        /// <summary>Calls the store; on an error stops the command the d365fo.integrations way and returns false.</summary>
        internal static bool Call(PSCmdlet cmdlet, bool enableException, List<KeyValuePair<string, object>> request, object target, out List<KeyValuePair<string, object>> answer)
        {
            answer = null;
            int rc = Native.CallConfig(Json.Write(request), out string text);
            if (rc != 0)
            {
                CommandFailure.Stop(cmdlet, enableException, CoreError.FromJson(rc, text), target);
                return false;
            }
            try { answer = Json.ParseObject(text); }
            catch (FormatException e)
            {
                CommandFailure.Stop(cmdlet, enableException, "NativeCoreError", ErrorCategory.InvalidResult, "The configuration store answered something that is not JSON: " + e.Message, target);
                return false;
            }
            return true;
        }

        /// <summary>A list in an answer, or an empty list.</summary>
        internal static List<object> List(List<KeyValuePair<string, object>> answer, string key) => Json.Get(answer, key) as List<object> ?? new List<object>();

        /// <summary>A configuration as the original returns it: a PSCustomObject-like object (type
        /// D365fo.Interactive.ODataConfig) or, with -OutputAsHashtable, a hashtable to splat.</summary>
        internal static object ToOutput(List<KeyValuePair<string, object>> config, bool asHashtable)
        {
            if (asHashtable)
            {
                var h = new Hashtable(StringComparer.OrdinalIgnoreCase);
                foreach (string p in ConfigProperties) h[p] = Json.Get(config, p);
                return h;
            }
            var o = new PSObject();
            o.TypeNames.Insert(0, ConfigTypeName);
            foreach (string p in ConfigProperties) o.Properties.Add(new PSNoteProperty(p, Json.Get(config, p)));
            return o;
        }

        /// <summary>The configuration names for tab completion, or none when the store cannot be read.</summary>
        internal static IEnumerable<string> NamesForCompletion(bool fromPsFramework)
        {
            var names = new List<string>();
            try
            {
                string request = fromPsFramework ? "{\"op\":\"psframework_scan\"}" : "{\"op\":\"list\"}";
                if (Native.CallConfig(request, out string answer) != 0) return names;
                foreach (object c in List(Json.ParseObject(answer), "configurations"))
                {
                    if (c is List<KeyValuePair<string, object>> o && Json.GetString(o, "name") is string n) names.Add(n);
                }
            }
            catch (Exception) { /* completion never fails loudly */ }
            return names;
        }
    }
}
