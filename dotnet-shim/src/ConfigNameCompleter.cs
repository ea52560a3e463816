using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace D365fo.Interactive
{
    /// <summary>Tab completion of OData configuration names for every -Name parameter of this module.</summary>
    public sealed class ConfigNameCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string word = (wordToComplete ?? "").Trim('\'', '"');
            var pattern = new WildcardPattern(WildcardPattern.Escape(word) + "*", WildcardOptions.IgnoreCase);
            string answer = Core.TryCall(Protocol.ConfigList());
            if (answer == null) yield break;
            List<ConfigRecord> all;
            try { all = ConfigRecord.ListFrom(Json.ParseObject(answer), "configs"); } catch (FormatException) { yield break; }
            foreach (ConfigRecord c in all)
            {
                if (c.Name == null || !pattern.IsMatch(c.Name)) continue;
                yield return new CompletionResult(Quote(c.Name), c.Name, CompletionResultType.ParameterValue, c.Name);
            }
        }

        /// <summary>Single-quotes a name that the parser would not read as one plain word.</summary>
        private static string Quote(string name)
        {
            foreach (char c in name)
            {
                if (!(char.IsLetterOrDigit(c) || c == '-' || c == '_' || c == '.')) return "'" + name.Replace("'", "''") + "'";
            }
            return name;
        }
    }
}
