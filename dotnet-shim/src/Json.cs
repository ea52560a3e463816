using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace D365fo.Interactive
{
    /// <summary>A small JSON reader and writer for the messages crossing the ABI (netstandard2.0 has no
    /// System.Text.Json without an extra dependency). Objects keep their key order, like Invoke-RestMethod.</summary>
    internal static class Json
    {
        /// <summary>Parses JSON into Dictionary (ordered)/List/string/long/double/bool/null.</summary>
        internal static object Parse(string text)
        {
            var p = new Parser(text);
            p.SkipWs();
            object v = p.Value(0);
            p.SkipWs();
            if (!p.AtEnd) throw new FormatException("trailing characters after JSON value");
            return v;
        }

        internal static List<KeyValuePair<string, object>> ParseObject(string text)
        {
            if (Parse(text) is List<KeyValuePair<string, object>> o) return o;
            throw new FormatException("JSON value is not an object");
        }

        internal static object Get(List<KeyValuePair<string, object>> obj, string key)
        {
            foreach (var kv in obj) if (kv.Key == key) return kv.Value;
            return null;
        }

        internal static string GetString(List<KeyValuePair<string, object>> obj, string key) => Get(obj, key) as string;

        internal static long? GetLong(List<KeyValuePair<string, object>> obj, string key)
        {
            object v = Get(obj, key);
            if (v is long l) return l;
            if (v is double d) return (long)d;
            if (v is string s && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long r)) return r;
            return null;
        }

        internal static bool GetBool(List<KeyValuePair<string, object>> obj, string key) => Get(obj, key) is bool b && b;

        /// <summary>The array under <paramref name="key"/>, or an empty list.</summary>
        internal static List<object> List(List<KeyValuePair<string, object>> obj, string key) => Get(obj, key) as List<object> ?? new List<object>();

        /// <summary>The object under <paramref name="key"/>, or null.</summary>
        internal static List<KeyValuePair<string, object>> Object(List<KeyValuePair<string, object>> obj, string key) =>
            Get(obj, key) as List<KeyValuePair<string, object>>;

        /// <summary>Writes a flat or nested value as JSON.</summary>
        internal static string Write(object value)
        {
            var sb = new StringBuilder();
            WriteValue(sb, value);
            return sb.ToString();
        }

        private static void WriteValue(StringBuilder sb, object v)
        {
            switch (v)
            {
                case null: sb.Append("null"); break;
                case string s: WriteString(sb, s); break;
                case bool b: sb.Append(b ? "true" : "false"); break;
                case int i: sb.Append(i.ToString(CultureInfo.InvariantCulture)); break;
                case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: sb.Append(d.ToString("R", CultureInfo.InvariantCulture)); break;
                case IEnumerable<KeyValuePair<string, object>> obj:
                    sb.Append('{');
                    bool first = true;
                    foreach (var kv in obj)
                    {
                        if (!first) sb.Append(',');
                        first = false;
                        WriteString(sb, kv.Key);
                        sb.Append(':');
                        WriteValue(sb, kv.Value);
                    }
                    sb.Append('}');
                    break;
                case System.Collections.IEnumerable list:
                    sb.Append('[');
                    bool f = true;
                    foreach (var item in list)
                    {
                        if (!f) sb.Append(',');
                        f = false;
                        WriteValue(sb, item);
                    }
                    sb.Append(']');
                    break;
                default: WriteString(sb, Convert.ToString(v, CultureInfo.InvariantCulture)); break;
            }
        }

        private static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        private sealed class Parser
        {
            private readonly string _s;
            private int _i;
            internal Parser(string s) { _s = s ?? throw new FormatException("no JSON"); }
            internal bool AtEnd => _i >= _s.Length;

            internal void SkipWs()
            {
                while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r')) _i++;
            }

            private char Peek() => _i < _s.Length ? _s[_i] : throw new FormatException("unexpected end of JSON");

            internal object Value(int depth)
            {
                if (depth > 64) throw new FormatException("JSON nested too deeply");
                SkipWs();
                char c = Peek();
                if (c == '{') return Obj(depth);
                if (c == '[') return Arr(depth);
                if (c == '"') return Str();
                if (Lit("true")) return true;
                if (Lit("false")) return false;
                if (Lit("null")) return null;
                return Num();
            }

            private bool Lit(string w)
            {
                if (string.CompareOrdinal(_s, _i, w, 0, w.Length) == 0) { _i += w.Length; return true; }
                return false;
            }

            private List<KeyValuePair<string, object>> Obj(int depth)
            {
                var o = new List<KeyValuePair<string, object>>();
                _i++;
                SkipWs();
                if (Peek() == '}') { _i++; return o; }
                while (true)
                {
                    SkipWs();
                    if (Peek() != '"') throw new FormatException("expected a property name");
                    string k = Str();
                    SkipWs();
                    if (Peek() != ':') throw new FormatException("expected ':'");
                    _i++;
                    o.Add(new KeyValuePair<string, object>(k, Value(depth + 1)));
                    SkipWs();
                    char c = Peek();
                    _i++;
                    if (c == '}') return o;
                    if (c != ',') throw new FormatException("expected ',' or '}'");
                }
            }

            private List<object> Arr(int depth)
            {
                var a = new List<object>();
                _i++;
                SkipWs();
                if (Peek() == ']') { _i++; return a; }
                while (true)
                {
                    a.Add(Value(depth + 1));
                    SkipWs();
                    char c = Peek();
                    _i++;
                    if (c == ']') return a;
                    if (c != ',') throw new FormatException("expected ',' or ']'");
                }
            }

            private string Str()
            {
                var sb = new StringBuilder();
                _i++;
                while (true)
                {
                    char c = Peek();
                    _i++;
                    if (c == '"') return sb.ToString();
                    if (c != '\\') { sb.Append(c); continue; }
                    char e = Peek();
                    _i++;
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (_i + 4 > _s.Length) throw new FormatException("bad \\u escape");
                            sb.Append((char)int.Parse(_s.Substring(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            _i += 4;
                            break;
                        default: throw new FormatException("bad escape");
                    }
                }
            }

            private object Num()
            {
                int start = _i;
                while (_i < _s.Length && "+-0123456789.eE".IndexOf(_s[_i]) >= 0) _i++;
                string t = _s.Substring(start, _i - start);
                if (t.Length == 0) throw new FormatException("unexpected character in JSON");
                if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                return double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }
    }
}
