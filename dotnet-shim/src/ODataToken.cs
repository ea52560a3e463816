using System.Collections.Generic;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>The -RawOutput object: the token response's properties are note properties under their JSON
    /// names (as Invoke-RestMethod gives them); the object itself converts to "Bearer &lt;access_token&gt;", so it
    /// can be piped to Set-D365ODataTokenInSession. It has no public .NET properties, so nothing shows the
    /// token except what the caller asks for by name.</summary>
    public sealed class ODataToken
    {
        internal const string TypeName = "D365fo.Interactive.ODataToken";
        private readonly string _bearer;

        internal ODataToken(string accessToken) { _bearer = "Bearer " + accessToken; }

        /// <summary>"Bearer &lt;access_token&gt;", the value Set-D365ODataTokenInSession needs.</summary>
        public override string ToString() => _bearer;

        internal static PSObject Create(List<KeyValuePair<string, object>> response, string accessToken)
        {
            var pso = new PSObject(new ODataToken(accessToken));
            pso.TypeNames.Insert(0, TypeName);
            foreach (var kv in response)
            {
                pso.Properties.Add(new PSNoteProperty(kv.Key, ToPowerShell(kv.Value)));
            }
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
