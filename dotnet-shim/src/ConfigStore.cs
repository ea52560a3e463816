using System.Collections.Generic;

namespace D365fo.Interactive
{
    /// <summary>Thin calls into the native configuration store (d365fo_config).</summary>
    internal static class ConfigStore
    {
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
            catch (System.FormatException) { return null; }
        }

        /// <summary>A stored module setting ("authority", "endpoint_version", "client_id", "no_browser"), or null.</summary>
        internal static string TryGetSetting(string key)
        {
            int rc = Native.CallConfig("{\"op\":\"get_settings\"}", out string answer);
            if (rc != 0) return null;
            try { return Json.Get(Json.ParseObject(answer), key) as string; }
            catch (System.FormatException) { return null; }
        }
    }
}
