# BASELINE FOR THE BENCHMARKS ONLY: not part of the module, never shipped, never to be used for real sign-ins.
#
# A plain PowerShell rendering of the algorithm of d365fo.integrations' Get-D365ODataTokenInteractive, written
# from its description in the project's research notes (entra-device-flow.md §4), so that tests/bench can
# measure the module side by side with what it replaces. The algorithm, step by step:
#   1. POST {authority}/{tenant}/oauth2/devicecode (v1) with resource and the Azure PowerShell client id.
#   2. Copy the user code to the clipboard (skipped here when there is no clipboard), sleep 2 s.
#   3. Open the verification URL in the default browser (skipped here), sleep 2 s.
#   4. Poll {authority}/{tenant}/oauth2/token every 1 s, ignoring the server's interval, until the timeout
#      (300 s by default); authorization_pending means poll again, any other error is rethrown.
# Dot-source this file to get Get-BaselineODataToken.

function Get-BaselineODataToken {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Authority,
        [Parameter(Mandatory)] [string] $Tenant,
        [Parameter(Mandatory)] [string] $Url,
        [int] $Timeout = 300,
        [switch] $RawOutput
    )
    $clientId = '1950a258-227b-4e31-a9cf-717495945fc2'
    $resource = $Url.TrimEnd('/')
    $base = "$($Authority.TrimEnd('/'))/$Tenant/oauth2"

    # -NoProxy: the fake authority is on 127.0.0.1 and must not go through a proxy set for the machine.
    $code = Invoke-RestMethod -Method Post -Uri "$base/devicecode" -NoProxy -Body @{ resource = $resource; client_id = $clientId }
    Write-Host $code.message

    # The original copies the code; Set-Clipboard needs a clipboard tool on Linux, so only where one exists.
    $clipboard = Get-Command Set-Clipboard -ErrorAction SilentlyContinue
    if ($clipboard -and ($IsWindows -or $env:DISPLAY -or $env:WAYLAND_DISPLAY)) {
        try { Set-Clipboard -Value $code.user_code } catch { Write-Verbose "no clipboard: $_" }
    }
    Start-Sleep -Seconds 2
    # The original starts the browser here (Start-Process on the verification URL); the bench has none.
    Start-Sleep -Seconds 2

    $body = @{
        grant_type = 'urn:ietf:params:oauth:grant-type:device_code'
        client_id  = $clientId
        resource   = $resource
        code       = $code.device_code
    }
    $deadline = (Get-Date).AddSeconds($Timeout)
    while ((Get-Date) -lt $deadline) {
        try {
            $token = Invoke-RestMethod -Method Post -Uri "$base/token" -NoProxy -Body $body
            if ($RawOutput) { return $token }
            return "Bearer $($token.access_token)"
        }
        catch {
            $answer = $null
            try { $answer = $_.ErrorDetails.Message | ConvertFrom-Json } catch { }
            if (-not $answer -or $answer.error -ne 'authorization_pending') { throw }
        }
        Start-Sleep -Seconds 1
    }
    throw "The sign-in did not complete within $Timeout seconds."
}
