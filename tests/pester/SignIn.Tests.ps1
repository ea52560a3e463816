# Get-D365ODataTokenInteractive end to end: the real module in a PowerShell runspace against the real fake
# authority on 127.0.0.1. Each case starts an authority with the scenario it needs.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Tenant = 'contoso.onmicrosoft.com'
    $script:Resource = 'https://contoso.operations.dynamics.com'
    $savedEnv = @{}
    foreach ($k in 'D365FO_AUTHORITY', 'D365FO_ENDPOINT_VERSION', 'D365FO_CLIENT_ID', 'D365FO_NO_BROWSER', 'D365FO_CONFIG_FILE', 'XDG_CONFIG_HOME', 'DISPLAY', 'BROWSER') {
        $savedEnv[$k] = [Environment]::GetEnvironmentVariable($k)
    }
    $env:D365FO_CONFIG_FILE = $null
    $env:XDG_CONFIG_HOME = Join-Path $TestDrive 'xdg'
    $env:D365FO_NO_BROWSER = '1'
    $env:DISPLAY = $null

    function Invoke-SignIn {
        <# Runs the cmdlet in a fresh runspace (as a user's session) and returns everything it produced:
           output, each stream, the $Error list, $? after the call, and the terminating error if any. The
           token cache is process-wide, so every call signs in anew (-Force) unless a test says otherwise. #>
        param([hashtable] $Parameters = @{}, [switch] $Async, [switch] $Reuse)
        if (-not $Reuse -and -not $Parameters.ContainsKey('Force')) { $Parameters = $Parameters.Clone(); $Parameters.Force = $true }
        $ps = [powershell]::Create()
        # A caller's try/catch is how a script sees a terminating error.
        $null = $ps.AddScript('param($m, $p) Import-Module $m; try { Get-D365ODataTokenInteractive @p; $global:QuestionMark = $? } catch { $global:CaughtError = $_ }').AddArgument($ModuleManifest).AddArgument($Parameters)
        if ($Async) { return $ps }
        $thrown = $null
        $output = $ps.Invoke()
        $caught = $ps.Runspace.SessionStateProxy.GetVariable('CaughtError')
        if ($caught) { $thrown = [pscustomobject]@{ ErrorRecord = $caught; Message = $caught.Exception.Message; Text = "$caught $($caught.Exception)" } }
        $result = [pscustomobject]@{
            Output      = @($output)
            Warning     = @($ps.Streams.Warning | ForEach-Object Message)
            Error       = @($ps.Streams.Error)
            Verbose     = @($ps.Streams.Verbose | ForEach-Object Message)
            Debug       = @($ps.Streams.Debug | ForEach-Object Message)
            Information = @($ps.Streams.Information | ForEach-Object { "$($_.MessageData)" })
            Progress    = @($ps.Streams.Progress)
            ErrorList   = @($ps.Runspace.SessionStateProxy.GetVariable('Error'))
            Succeeded   = $ps.Runspace.SessionStateProxy.GetVariable('QuestionMark')
            Thrown      = $thrown
        }
        $ps.Runspace.Dispose()
        $ps.Dispose()
        $result
    }

    function Get-AllText($r) {
        # Every stream but the output (which is the token by design), every error record and its exception
        # text, as one string to scan for secrets.
        $parts = $r.Warning + $r.Verbose + $r.Debug + $r.Information +
            @($r.Error + $r.ErrorList | Where-Object { $_ } | ForEach-Object { "$_"; $_.Exception.ToString(); "$($_.FullyQualifiedErrorId)"; "$($_.TargetObject)" }) +
            @($r.Progress | ForEach-Object { "$($_.Activity) $($_.StatusDescription) $($_.CurrentOperation)" })
        if ($r.Thrown) { $parts += $r.Thrown.Text }
        $parts -join "`n"
    }

    function Get-Polls($log) { @($log | Where-Object { $_.path -match '/oauth2/(v2\.0/)?token$' }) }
}

AfterAll {
    foreach ($k in $savedEnv.Keys) { [Environment]::SetEnvironmentVariable($k, $savedEnv[$k]) }
}

Describe 'Signing in with the v1 endpoints (the default)' {
    BeforeAll {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        $env:D365FO_AUTHORITY = $fa.Url
        $env:D365FO_ENDPOINT_VERSION = $null
        $script:r = Invoke-SignIn @{ Tenant = $Tenant; Url = "$Resource/" }
        $script:log = Get-FakeAuthorityLog $fa
    }
    AfterAll { Stop-FakeAuthority $fa }

    It 'returns the string "Bearer", a space and the access token, and nothing else' {
        $r.Thrown | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 1
        $r.Output[0] | Should -BeOfType [string]
        $r.Output[0] | Should -Match '^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$'
        $r.Warning | Should -BeNullOrEmpty
    }

    It 'asks for a device code at {tenant}/oauth2/devicecode with the resource (no trailing slash) and the Azure PowerShell client id' {
        $dc = @($log | Where-Object path -Like '*/oauth2/devicecode*')
        $dc.Count | Should -Be 1
        $dc[0].path | Should -BeLike "/$Tenant/oauth2/devicecode*"
        $dc[0].form.resource | Should -Be $Resource
        $dc[0].form.client_id | Should -Be '1950a258-227b-4e31-a9cf-717495945fc2'
    }

    It 'polls {tenant}/oauth2/token with the device code grant, sending the code as device_code and code' {
        $polls = Get-Polls $log
        $polls.Count | Should -BeGreaterOrEqual 1
        $polls[0].path | Should -Be "/$Tenant/oauth2/token"
        $polls[0].form.grant_type | Should -Be 'urn:ietf:params:oauth:grant-type:device_code'
        $polls[0].form.client_id | Should -Be '1950a258-227b-4e31-a9cf-717495945fc2'
        $polls[0].form.device_code | Should -Not -BeNullOrEmpty
        $polls[0].form.code | Should -Be $polls[0].form.device_code
    }

    It 'waits the interval before the first poll (no fixed sleeps, no faster polling)' {
        $dc = @($log | Where-Object path -Like '*/oauth2/devicecode*')[0]
        $first = (Get-Polls $log)[0]
        ($first.ms - $dc.ms) | Should -BeGreaterOrEqual 950
        ($first.ms - $dc.ms) | Should -BeLessThan 4000
    }

    It 'shows the page and the code once, one deadline as a time, and what happened to clipboard and browser, in plain words' {
        $text = $r.Information -join "`n"
        $text -match 'To sign in, open (http://127\.0\.0\.1:\d+/devicelogin) and enter the code ([A-Z0-9]+)' | Should -BeTrue
        $page, $code = $Matches[1], $Matches[2]
        ([regex]::Matches($text, [regex]::Escape($code))).Count | Should -Be 1
        ([regex]::Matches($text, [regex]::Escape($page))).Count | Should -Be 1
        $text | Should -Match 'Waiting until \d{1,2}:\d{2}:\d{2}.* \(5 minutes, the -Timeout\); Ctrl\+C stops\.'
        $text | Should -Match 'No browser was opened: D365FO_NO_BROWSER is set\.'
        $text | Should -Match 'The code is not on your clipboard: there is no graphical display here'
        $text | Should -Not -MatchExactly 'DISPLAY|WAYLAND'
    }

    It 'says who signed in, for which resource, and until when' {
        ($r.Information -join "`n") | Should -Match "Signed in as test\.user@local-test-authority\.invalid for $([regex]::Escape($Resource)); the token is valid until \d"
    }

    It 'reports progress while waiting and completes it at the end' {
        $r.Progress.Count | Should -BeGreaterOrEqual 1
        $r.Progress[-1].RecordType | Should -Be 'Completed'
    }

    It 'never shows the access token, the refresh token or the device code of that sign-in in any stream' {
        $fb = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; Verbose = $true; Debug = $true; RawOutput = $true }
        $own = $fb.Output[0]
        $signin = @(Invoke-RestMethod -Uri "$($fa.Url)/_test/signins" -NoProxy | ForEach-Object { $_ } | Where-Object access_token -eq $own.access_token)
        $signin.Count | Should -Be 1 -Because 'the secrets searched for are this sign-in''s'
        $fb.Verbose.Count | Should -BeGreaterThan 0
        foreach ($s in $own.access_token, $signin[0].refresh_token, $signin[0].device_code) {
            $s | Should -Not -BeNullOrEmpty
            (Get-AllText $fb).Contains($s) | Should -BeFalse
        }
    }
}

Describe '-RawOutput' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1'); $env:D365FO_AUTHORITY = $fa.Url }
    AfterAll { Stop-FakeAuthority $fa; $env:D365FO_ENDPOINT_VERSION = $null }

    It 'returns every v1 token response field under its JSON name, numbers as the strings v1 sends, but the refresh and id tokens' {
        $env:D365FO_ENDPOINT_VERSION = 'v1'
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; RawOutput = $true }
        $t = $r.Output[0]
        $issued = @(Invoke-RestMethod -Uri "$($fa.Url)/_test/signins" -NoProxy | ForEach-Object { $_ } | Where-Object access_token -eq $t.access_token)[0]
        $issued.refresh_token | Should -Not -BeNullOrEmpty -Because 'the authority did issue one'
        $t.PSObject.Properties.Name | Should -Not -Contain 'refresh_token'
        $t.PSObject.Properties.Name | Should -Not -Contain 'id_token'
        foreach ($s in $issued.refresh_token, $issued.id_token) {
            if ($s) { ($t | ConvertTo-Json -Depth 5).Contains($s) | Should -BeFalse -Because 'no withheld token in the serialised object' }
        }
        $t.PSObject.TypeNames[0] | Should -Be 'D365fo.Interactive.ODataToken'
        @($t.PSObject.TypeNames | Where-Object { $_ -eq 'D365fo.Interactive.ODataToken' }).Count | Should -Be 1 -Because 'one type name per object'
        foreach ($f in 'token_type', 'expires_in', 'expires_on', 'not_before', 'resource', 'access_token') {
            $t.PSObject.Properties.Name | Should -Contain $f
        }
        $t.token_type | Should -Be 'Bearer'
        $t.resource | Should -Be $Resource
        $t.expires_on | Should -BeOfType [string]
        "$t" | Should -Be "Bearer $($t.access_token)"
        $t.ExpiresOn | Should -BeOfType [DateTimeOffset]
        [Math]::Abs(($t.ExpiresOn.ToUnixTimeSeconds() - [long]$t.expires_on)) | Should -BeLessOrEqual 5
    }

    It 'returns the v2 fields (scope, expires_in as a number) with D365FO_ENDPOINT_VERSION=v2, asking for the url + /.default' {
        $env:D365FO_ENDPOINT_VERSION = 'v2'
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; RawOutput = $true }
        $t = $r.Output[0]
        $t.scope | Should -Not -BeNullOrEmpty
        $t.expires_in | Should -BeOfType [long]
        $t.PSObject.Properties.Name | Should -Not -Contain 'resource'
        $log = Get-FakeAuthorityLog $fa
        $dc = @($log | Where-Object path -Like '*/oauth2/v2.0/devicecode*')[-1]
        $dc.form.scope | Should -Be "$Resource/.default offline_access"
        (Get-Polls $log)[-1].path | Should -Be "/$Tenant/oauth2/v2.0/token"
    }

    It 'displays type, resource or every scope, and expiry as a list at 80 columns, and no token (v<Version>)' -TestCases @(@{ Version = 1 }, @{ Version = 2 }) {
        $env:D365FO_ENDPOINT_VERSION = "v$Version"
        try { $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; RawOutput = $true } } finally { $env:D365FO_ENDPOINT_VERSION = $null }
        $t = $r.Output[0]
        $text = $t | Out-String -Width 80
        $text | Should -Match 'token_type\s+: Bearer'
        $text | Should -Match 'ExpiresOn\s+: '
        if ($Version -eq 1) { $text | Should -Match ('resource\s+: ' + [regex]::Escape($Resource)) }
        else { ($text -replace '\s', '').Contains('scope:' + ($t.scope -replace '\s', '')) | Should -BeTrue -Because 'every scope is shown, wrapped, not cut' }
        foreach ($line in @($text -split '\r?\n')) { $line.TrimEnd().Length | Should -BeLessOrEqual 80 }
        foreach ($secret in $t.access_token, $t.refresh_token, $t.id_token) {
            if ($secret) { ($t | Out-String -Width 400).Contains($secret) | Should -BeFalse; ($t | Format-Table | Out-String -Width 400).Contains($secret) | Should -BeFalse }
        }
    }

    It 'pipes into Set-D365ODataTokenInSession, which stores the same Bearer string' {
        $env:D365FO_ENDPOINT_VERSION = $null
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; function Get-D365Probe { [CmdletBinding()] param([string] $Token) $Token }; Get-D365ODataTokenInteractive -Tenant $t -Url $u -RawOutput -Force | Set-D365ODataTokenInSession; Get-D365Probe').AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
        $out = $ps.Invoke()
        $ps.Dispose()
        "$($out[-1])" | Should -Match '^Bearer [A-Za-z0-9_-]+\.'
    }

    It 'pipes the plain output into Set-D365ODataTokenInSession (the original pipeline)' {
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; function Get-D365Probe { [CmdletBinding()] param([string] $Token) $Token }; $b = Get-D365ODataTokenInteractive $t $u -Force; $b | Set-D365ODataTokenInSession; ((Get-D365Probe) -eq $b)').AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
        $out = $ps.Invoke()
        $ps.Dispose()
        $out[-1] | Should -BeTrue
    }
}

Describe 'When the sign-in does not succeed' {
    AfterEach { Stop-FakeAuthority $script:fa; $script:fa = $null }

    # What the authority or the network says stops the script, as the original's rethrow does.
    It 'stops with <Id> (<Category>) when <Case>, with or without -EnableException, in plain words' -TestCases @(
        @{ Case = 'the person declines'; Scenario = 'decline'; Id = 'SignInDeclined'; Category = 'PermissionDenied'; Words = 'declined' }
        @{ Case = 'the authority says the code expired'; Scenario = 'expire'; Id = 'DeviceCodeExpired'; Category = 'OperationTimeout'; Words = 'code expired before the sign-in was completed' }
        @{ Case = 'the client is not a public client'; Scenario = 'invalid-client'; Id = 'AuthorityError'; Category = 'SecurityError'; Words = 'public client' }
        @{ Case = 'the answer is garbage'; Scenario = 'malformed-json'; Id = 'InvalidAuthorityResponse'; Category = 'InvalidResult'; Words = 'not valid JSON' }
    ) {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', $Scenario); $env:D365FO_AUTHORITY = $fa.Url
        foreach ($enable in $false, $true) {
            $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; EnableException = $enable }
            $r.Thrown | Should -Not -BeNullOrEmpty -Because "EnableException=$enable"
            $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -Be $Id
            $r.Thrown.ErrorRecord.CategoryInfo.Category | Should -Be $Category
            $r.Thrown.Message | Should -Match $Words
            $r.Thrown.Message | Should -Not -Match '[{}]' -Because 'no raw JSON'
            $r.Warning | Should -BeNullOrEmpty
            $r.Output.Count | Should -Be 0
        }
    }

    It 'ends a script at a declined sign-in, as the original does' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'decline')
        $c = Invoke-ChildPwsh -Environment @{ D365FO_AUTHORITY = $fa.Url; D365FO_NO_BROWSER = '1'; XDG_CONFIG_HOME = (Join-Path $TestDrive 'child'); DISPLAY = $null } -Command "Import-Module '$ModuleManifest'; 'before'; Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource | Set-D365ODataTokenInSession; 'after'"
        $c.StdOut | Should -Match 'before'
        $c.StdOut | Should -Not -Match 'after'
        $c.ExitCode | Should -Not -Be 0
    }

    It 'reports an authority that is down as a network error that stops the script' {
        $env:D365FO_AUTHORITY = "http://127.0.0.1:$(Get-FreeLoopbackPort)"
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -Be 'NetworkError'
        $r.Thrown.ErrorRecord.CategoryInfo.Category | Should -Be 'ConnectionError'
    }

    # A timeout (or the code's own lifetime running out) warns and returns nothing, as the original does.
    It 'warns at -Timeout with its own words, returns nothing, and leaves $? false and the record in $Error' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; Timeout = 2 }
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
        $r.Thrown | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 0
        $r.Warning.Count | Should -Be 1
        $r.Warning[0] | Should -Match 'timed out after 2 seconds \(-Timeout\)'
        $r.Error | Should -BeNullOrEmpty -Because 'the warning is the one message shown'
        $r.ErrorList[0].FullyQualifiedErrorId | Should -Be 'SignInTimedOut,D365fo.Interactive.GetD365ODataTokenInteractiveCommand'
        $r.Succeeded | Should -BeFalse
    }

    It 'stops instead at -Timeout with <How>' -TestCases @(@{ How = '-EnableException'; Extra = @{ EnableException = $true } }, @{ How = '-ErrorAction Stop'; Extra = @{ ErrorAction = 'Stop' } }) {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url
        $p = @{ Tenant = $Tenant; Url = $Resource; Timeout = 2 } + $Extra
        $r = Invoke-SignIn $p
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -Be 'SignInTimedOut'
        $r.Warning | Should -BeNullOrEmpty
    }

    It 'warns when the code''s own lifetime ends before -Timeout, saying so' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--expires-in', '2', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Thrown | Should -BeNullOrEmpty
        $r.Warning[0] | Should -Match 'the code expired after 2 seconds without a sign-in'
        ($r.Information -join "`n") | Should -Match '\(2 seconds, when the code expires\)'
    }

    It 'adds 5 seconds to the wait after slow_down' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'slow_down'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        $polls = Get-Polls (Get-FakeAuthorityLog $fa)
        $polls.Count | Should -BeGreaterOrEqual 2
        ($polls[1].ms - $polls[0].ms) | Should -BeGreaterOrEqual 5950
    }

    It 'rides out a transient 503 and still returns the token' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'transient-503'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        $r.Warning | Should -BeNullOrEmpty
    }
}

Describe 'Parameters that cannot work' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1'); $env:D365FO_AUTHORITY = $fa.Url }
    AfterAll { Stop-FakeAuthority $fa }

    It 'gives the original message when no Url is given and no configuration is active, with $? false' {
        $r = Invoke-SignIn @{ Tenant = $Tenant }
        $r.Thrown | Should -BeNullOrEmpty
        $r.Warning[0] | Should -Match ([regex]::Escape("It seems that you didn't supply a valid value for the Url parameter. You need specify the Url parameter or add a configuration with the Add-D365ODataConfig cmdlet."))
        $r.ErrorList[0].FullyQualifiedErrorId | Should -Be 'UrlMissing,D365fo.Interactive.GetD365ODataTokenInteractiveCommand'
        $r.Succeeded | Should -BeFalse
    }

    It 'refuses a tenant that is not a GUID or a domain name before sending anything' -TestCases @(
        @{ T = 'a/b' }, @{ T = 'x?y' }, @{ T = '../etc' }, @{ T = 'with space' }, @{ T = 'a%2fb' }
    ) {
        param($T)
        $before = (Get-FakeAuthorityLog $fa).Count
        $r = Invoke-SignIn @{ Tenant = $T; Url = $Resource; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -Be 'InvalidParameter'
        $r.Thrown.Message | Should -Match 'tenant'
        (Get-FakeAuthorityLog $fa).Count | Should -Be $before
    }

    It 'refuses a Url that is not an absolute http(s) URL' {
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = 'contoso.operations.dynamics.com'; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -Be 'InvalidParameter'
    }

    It 'refuses a -Timeout of <Timeout>' -TestCases @(@{ Timeout = 0 }, @{ Timeout = -5 }) {
        param($Timeout)
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; Timeout = $Timeout; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -Be 'InvalidParameter'
        $r.Thrown.Message | Should -Match 'Timeout'
    }
}

Describe 'Ctrl+C' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url }
    AfterAll { Stop-FakeAuthority $fa }

    It 'stops a sign-in that is waiting within a second, and the next sign-in in the same session works' {
        $rs = [runspacefactory]::CreateRunspace()
        $rs.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $rs
        $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; Get-D365ODataTokenInteractive -Tenant $t -Url $u').AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
        $handle = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ((Get-Polls (Get-FakeAuthorityLog $fa)).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        (Get-Polls (Get-FakeAuthorityLog $fa)).Count | Should -BeGreaterOrEqual 1
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $sw.Elapsed.TotalMilliseconds | Should -BeLessThan 1000
        $handle.IsCompleted | Should -BeTrue
        $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        $ps.Dispose()

        # The same runspace signs in again; this authority approves at once.
        $fb = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        try {
            $ps2 = [powershell]::Create()
            $ps2.Runspace = $rs
            $null = $ps2.AddScript('param($a, $t, $u) $env:D365FO_AUTHORITY = $a; Get-D365ODataTokenInteractive -Tenant $t -Url $u -Force').AddArgument($fb.Url).AddArgument($Tenant).AddArgument($Resource)
            $out = $ps2.Invoke()
            $out[0] | Should -Match '^Bearer '
            $ps2.Dispose()
        } finally { Stop-FakeAuthority $fb; $env:D365FO_AUTHORITY = $fa.Url; $rs.Dispose() }
    }

    It 'stops before the code arrives (a slow authority) within a second' {
        $slow = Start-FakeAuthority @('--interval', '1', '--scenario', 'dc-slow-response', '--delay-secs', '30')
        try {
            $env:D365FO_AUTHORITY = $slow.Url
            $ps = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource } -Async
            $h = $ps.BeginInvoke()
            # Stop while the device code request is in flight: the authority has it and is holding its answer.
            $deadline = [DateTime]::UtcNow.AddSeconds(15)
            while (-not @(Get-FakeAuthorityLog $slow | Where-Object endpoint -eq 'devicecode').Count -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            @(Get-FakeAuthorityLog $slow | Where-Object endpoint -eq 'devicecode').Count | Should -Be 1
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $sw.Elapsed.TotalMilliseconds | Should -BeLessThan 1000
            $h.IsCompleted | Should -BeTrue
            $ps.Dispose()
        } finally { Stop-FakeAuthority $slow; $env:D365FO_AUTHORITY = $fa.Url }
    }
}

Describe 'Clipboard and browser on a desktop (Xvfb)' -Skip:(-not (Get-Command Xvfb -ErrorAction SilentlyContinue) -or -not (Get-Command xclip -ErrorAction SilentlyContinue)) -Tag $(if ($IsLinux) { 'SkipReason: needs Xvfb and xclip (.ci/run installs them)' } else { 'SkipReason: Linux only (X11 clipboard)' }) {
    BeforeAll {
        $script:x = Start-Xvfb
        $env:DISPLAY = $x.Display
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        $env:D365FO_AUTHORITY = $fa.Url
        $script:recorder = Join-Path $TestDrive 'browser-recorder.sh'
        $script:recorded = Join-Path $TestDrive 'browser-urls.txt'
        Set-Content $recorder "#!/bin/sh`necho `"`$1`" >> '$recorded'`n"
        & chmod +x $recorder
    }
    AfterAll {
        Stop-FakeAuthority $fa
        Stop-Xvfb $x
        $env:DISPLAY = $null; $env:BROWSER = $null; $env:D365FO_NO_BROWSER = '1'
    }

    It 'leaves the user code in the clipboard after the cmdlet returns' {
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        ($r.Information -join "`n") -match 'enter the code ([A-Z0-9-]+)' | Should -BeTrue
        $code = $Matches[1]
        $info = $r.Information -join "`n"
        $info | Should -Match 'The code is on your clipboard\.' -Because "the cmdlet said: $info"
        $code | Should -Not -BeNullOrEmpty
        $clip = & timeout 5 xclip -o -selection clipboard
        $clip | Should -BeExactly $code
    }

    It 'opens the verification URL with the browser named by $BROWSER' {
        $env:BROWSER = $recorder
        $env:D365FO_NO_BROWSER = $null
        Remove-Item $recorded -ErrorAction SilentlyContinue
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        $deadline = [DateTime]::UtcNow.AddSeconds(5)
        while (-not (Test-Path $recorded) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        (Get-Content $recorded) | Should -Be "$($fa.Url)/devicelogin"
        ($r.Information -join "`n") | Should -Match 'Your browser has opened the sign-in page\.'
        $env:D365FO_NO_BROWSER = '1'
    }
}

Describe 'Output captured in a variable' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1') }
    AfterAll { Stop-FakeAuthority $fa }

    It 'still shows the code on the host when the token goes into a variable' {
        $r = Invoke-ChildPwsh -Environment @{ D365FO_AUTHORITY = $fa.Url; D365FO_NO_BROWSER = '1'; XDG_CONFIG_HOME = (Join-Path $TestDrive 'child-config'); DISPLAY = $null } -Command "Import-Module '$ModuleManifest'; `$t = Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource; 'captured:' + `$t.StartsWith('Bearer ')"
        $r.StdOut | Should -Match 'enter the code [A-Z0-9]+'
        $r.StdOut | Should -Match 'Signed in as '
        $r.StdOut | Should -Match 'captured:True'
    }
}
