<#
.SYNOPSIS
A local stand-in for a D365FO environment's OData endpoint, for tests: answers GET /data/<entity> with one
row, and records each request's method, path and Authorization header (the header is what a test checks:
which bearer the data command sent). Prints "READY http://127.0.0.1:<port>" when listening; ends when its
standard input closes.
#>
param(
    [Parameter(Mandatory)] [string] $LogFile
)
$ErrorActionPreference = 'Stop'
$listener = $null
foreach ($attempt in 1..20) {
    $probe = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $probe.Start(); $port = $probe.LocalEndpoint.Port; $probe.Stop()
    $candidate = [Net.HttpListener]::new()
    $candidate.Prefixes.Add("http://127.0.0.1:$port/")
    try { $candidate.Start(); $listener = $candidate; break } catch { $candidate.Close() }
}
if (-not $listener) { throw 'no free port for the OData stand-in' }
[Console]::Out.WriteLine("READY http://127.0.0.1:$port")
[Console]::Out.Flush()

# Stop when the test closes our standard input.
$stdin = [Console]::OpenStandardInput()
$null = [Threading.Tasks.Task]::Run([Action]{ $b = [byte[]]::new(1); while ($stdin.Read($b, 0, 1) -gt 0) { }; $listener.Stop() })

while ($listener.IsListening) {
    try { $context = $listener.GetContext() } catch { break }
    $entry = [ordered]@{
        method        = $context.Request.HttpMethod
        path          = $context.Request.Url.PathAndQuery
        authorization = $context.Request.Headers['Authorization']
    }
    Add-Content -LiteralPath $LogFile -Value ($entry | ConvertTo-Json -Compress)
    $body = [Text.Encoding]::UTF8.GetBytes('{"@odata.context":"stand-in","value":[{"dataAreaId":"usmf","Name":"stand-in row"}]}')
    $context.Response.ContentType = 'application/json; odata.metadata=minimal'
    $context.Response.OutputStream.Write($body, 0, $body.Length)
    $context.Response.Close()
}
