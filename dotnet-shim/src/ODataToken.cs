using System;
using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>The -RawOutput object: the token response's fields (all but refresh_token and id_token, which the
    /// core keeps) as note properties under their JSON names (as
    /// Invoke-RestMethod gives them), plus ExpiresOn (a DateTimeOffset). The object converts to
    /// "Bearer &lt;access_token&gt;", so it can be piped to Set-D365ODataTokenInSession. Its default view never
    /// shows a token.</summary>
    public sealed class ODataToken
    {
        private readonly string _bearer;

        internal ODataToken(string accessToken) { _bearer = "Bearer " + accessToken; }

        /// <summary>"Bearer &lt;access_token&gt;", the value Set-D365ODataTokenInSession needs.</summary>
        public override string ToString() => _bearer;

        internal static PSObject Create(TokenAnswer token)
        {
            // The view selects this class's own type name, D365fo.Interactive.ODataToken, which PowerShell lists by
            // itself (inserting it again would list it twice).
            var pso = new PSObject(new ODataToken(token.AccessToken));
            foreach (var kv in token.Response)
            {
                pso.Properties.Add(new PSNoteProperty(kv.Key, ToPowerShell(kv.Value)));
            }
            pso.Properties.Add(new PSNoteProperty("ExpiresOn", token.ExpiresOn.ToLocalTime()));
            // No token in the default display; v1 answers name the resource, v2 answers the scopes.
            ConfigObjects.SetDefaultDisplay(pso, new[] { "token_type", "resource", "scope", "expires_in", "ext_expires_in", "ExpiresOn" });
            return pso;
        }

        private static object ToPowerShell(object v)
        {
            if (v is List<KeyValuePair<string, object>> obj)
            {
                var o = new PSObject();
                foreach (var kv in obj) o.Properties.Add(new PSNoteProperty(kv.Key, ToPowerShell(kv.Value)));
                return o;
            }
            if (v is List<object> list)
            {
                var a = new object[list.Count];
                for (int i = 0; i < a.Length; i++) a[i] = ToPowerShell(list[i]);
                return a;
            }
            return v;
        }
    }
}
