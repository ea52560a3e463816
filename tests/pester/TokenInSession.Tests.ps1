# One sign-in serves the session. Get-D365ODataTokenInteractive reuses the session's token, renews it silently,
# or signs in again (-Force, or when the authority refuses to renew); Set-D365ODataTokenInSession makes it the
# default -Token of the D365 commands only, renewing it when it nears its expiry. Each case runs in a fresh
# pwsh, as a user's session would (the token cache lives in the process).

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')

    function Invoke-InSession([string] $Script, $Authority, [switch] $AllowStdErr) {
        $envs = @{
            XDG_CONFIG_HOME   = (Join-Path $TestDrive ([guid]::NewGuid()))
            D365FO_AUTHORITY  = if ($Authority) { $Authority.Url } else { $null }
            D365FO_NO_BROWSER = '1'
            DISPLAY           = $null
        }
        $prelude = "Import-Module '$ModuleManifest'; function Get-D365TokenSeen { [CmdletBinding()] param([string] `$Token) `"seen:`$Token`" }; "
        $r = Invoke-ChildPwsh -Command ($prelude + $Script) -Environment $envs -TimeoutSeconds 120
        if (-not $AllowStdErr) { $r.StdErr | Should -Not -Match 'S="Error"|S="warning"' }
        $r
    }

    function Get-Lines($r) { , @($r.StdOut -split "\r?\n" | Where-Object { $_ }) }
    function Get-Signins($a) { @(Invoke-RestMethod -Uri "$($a.Url)/_test/signins" -NoProxy | ForEach-Object { $_ }) }
    function Get-Requests($a, [string] $Grant) {
        @(Get-FakeAuthorityLog $a | Where-Object { $_.endpoint -eq 'token' -and (-not $Grant -or $_.form.grant_type -eq $Grant) })
    }
    $SignIn = "Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url https://contoso.operations.dynamics.com"
}

Describe 'Set-D365ODataTokenInSession' {
    It 'gives a D365 command with a -Token parameter the token, by parameter, pipeline or position' {
        (Get-Lines (Invoke-InSession "Set-D365ODataTokenInSession -BearerToken 'Bearer abc.def'; Get-D365TokenSeen"))[-1] | Should -Be 'seen:Bearer abc.def'
        (Get-Lines (Invoke-InSession "'Bearer from.pipeline' | Set-D365ODataTokenInSession; Get-D365TokenSeen"))[-1] | Should -Be 'seen:Bearer from.pipeline'
        (Get-Lines (Invoke-InSession "Set-D365ODataTokenInSession 'Bearer positional'; Get-D365TokenSeen"))[-1] | Should -Be 'seen:Bearer positional'
    }

    It 'sets only *-D365*:Token in the global dictionary, mutating it, keeping other defaults and replacing the original''s *:Token' {
        $out = Get-Lines (Invoke-InSession @'
$PSDefaultParameterValues['Keep-Me:Please'] = 'kept'
$PSDefaultParameterValues['*:Token'] = 'Bearer set.by.the.original'
$before = $global:PSDefaultParameterValues
Set-D365ODataTokenInSession -BearerToken 'Bearer x'
"same:$([object]::ReferenceEquals($before, $global:PSDefaultParameterValues))"
"d365:$($global:PSDefaultParameterValues['*-D365*:Token'])"
"star:$($global:PSDefaultParameterValues.Contains('*:Token'))"
"kept:$($global:PSDefaultParameterValues['Keep-Me:Please'])"
'@)
        $out | Should -Be @('same:True', 'd365:Bearer x', 'star:False', 'kept:kept')
    }

    It 'reaches the global scope when called from inside a function with its own defaults' {
        (Get-Lines (Invoke-InSession "function Inner { `$PSDefaultParameterValues = @{}; Set-D365ODataTokenInSession -BearerToken 'Bearer deep' }; Inner; Get-D365TokenSeen"))[-1] | Should -Be 'seen:Bearer deep'
    }

    It 'changes nothing with -WhatIf' {
        (Get-Lines (Invoke-InSession "Set-D365ODataTokenInSession -BearerToken 'Bearer x' -WhatIf; 'has:' + `$PSDefaultParameterValues.Contains('*-D365*:Token')"))[-1] | Should -Be 'has:False'
    }

    It 'never offers the token to Invoke-RestMethod or Invoke-WebRequest, so no warning prints it' -Skip:($PSVersionTable.PSVersion.Major -lt 7) -Tag 'SkipReason:PowerShell 7 only (the web cmdlets have -Token there)' {
        $echo = Start-FakeAuthority @('--interval', '1')
        try {
            $secret = 'Bearer ey.canary.token'
            $r = Invoke-InSession @"
Set-D365ODataTokenInSession -BearerToken '$secret'
`$null = Invoke-RestMethod -Uri '$($echo.Url)/_test/log' -NoProxy 3>&1 2>&1 | Out-String -Stream
`$null = Invoke-WebRequest -Uri '$($echo.Url)/_test/log' -NoProxy -Verbose 3>&1 2>&1 4>&1 | Out-String -Stream
Invoke-RestMethod -Uri '$($echo.Url)/_test/log' -NoProxy -Verbose 4>&1 3>&1 2>&1 | ForEach-Object { "stream:`$_" }
'done'
"@ -AllowStdErr
            (Get-Lines $r)[-1] | Should -Be 'done'
            ($r.StdOut + $r.StdErr) | Should -Not -Match 'canary'
        } finally { Stop-FakeAuthority $echo }
    }

    It 'refuses a missing token' {
        Import-Module $ModuleManifest -Force
        { Set-D365ODataTokenInSession -BearerToken $null } | Should -Throw -ErrorId 'ParameterArgumentValidationErrorNullNotAllowed,D365fo.Interactive.SetD365ODataTokenInSessionCommand'
    }
}

Describe 'One sign-in serves the session' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1') }
    AfterAll { Stop-FakeAuthority $fa }

    It 'reuses the session''s token: one line says who and until when, and nothing is sent' {
        $r = Invoke-InSession @"
`$a = $SignIn 6>`$null
`$before = @(Invoke-RestMethod -Uri '$($fa.Url)/_test/log' -NoProxy).Count
`$b = $SignIn
`$after = @(Invoke-RestMethod -Uri '$($fa.Url)/_test/log' -NoProxy).Count
"same:`$(`$a -eq `$b)"; "sent:`$(`$after - `$before)"
"@ $fa
        $out = Get-Lines $r
        $out | Should -Contain 'same:True'
        $out | Should -Contain 'sent:0' -Because 'the log does not count the test''s own look at it'
        ($out -join "`n") | Should -Match 'Using this session''s token as test\.user@local-test-authority\.invalid for https://contoso\.operations\.dynamics\.com, valid until .+; -Force signs in again\.'
        ($out -join "`n") | Should -Not -Match 'enter the code'
    }

    It 'signs in again with -Force, replacing the session''s token' {
        $before = @(Get-FakeAuthorityLog $fa | Where-Object endpoint -eq 'devicecode').Count
        $out = Get-Lines (Invoke-InSession "`$a = $SignIn 6>`$null; `$b = $SignIn -Force 6>`$null; `$c = $SignIn 6>`$null; ""changed:`$(`$a -ne `$b)""; ""kept:`$(`$b -eq `$c)""" $fa)
        $out | Should -Contain 'changed:True'
        $out | Should -Contain 'kept:True'
        @(Get-FakeAuthorityLog $fa | Where-Object endpoint -eq 'devicecode').Count | Should -Be ($before + 2)
    }
}

Describe 'Renewing a token near its expiry' {
    BeforeAll { $script:short = Start-FakeAuthority @('--interval', '1', '--token-lifetime', '60') }
    AfterAll { Stop-FakeAuthority $short }

    It 'renews with exactly one refresh grant, says so, and returns the new token' {
        $before = (Get-Requests $short 'refresh_token').Count
        $out = Get-Lines (Invoke-InSession "`$a = $SignIn 6>`$null; `$b = $SignIn; ""changed:`$(`$a -ne `$b)""; ""token:`$b""" $short)
        $out | Should -Contain 'changed:True'
        (Get-Requests $short 'refresh_token').Count | Should -Be ($before + 1)
        ($out -join "`n") | Should -Match 'Renewed this session''s token as test\.user@local-test-authority\.invalid for https://contoso\.operations\.dynamics\.com without a new sign-in'
        $latest = (Get-Signins $short)[-1]
        ($out | Where-Object { $_ -like 'token:*' }) | Should -Be "token:Bearer $($latest.access_token)"
    }

    It 'says why when the authority refuses to renew, and signs in again' {
        $out = Get-Lines (Invoke-InSession "`$null = Get-D365ODataTokenInteractive -Tenant refresh-invalid-grant.scenario.test -Url https://contoso.operations.dynamics.com 6>`$null; `$b = Get-D365ODataTokenInteractive -Tenant refresh-invalid-grant.scenario.test -Url https://contoso.operations.dynamics.com; ""ok:`$(`$b -like 'Bearer *')""" $short)
        ($out -join "`n") | Should -Match 'This session''s token could not be renewed: .*no longer accepts.*AADSTS700082.*\. Signing in again\.'
        ($out -join "`n") | Should -Match 'enter the code'
        $out | Should -Contain 'ok:True'
    }

    It 'gives the D365 commands a renewed token after the first one expired, through the session default' {
        $r = Invoke-InSession @"
$SignIn 6>`$null | Set-D365ODataTokenInSession
`$first = Get-D365TokenSeen
`$second = Get-D365TokenSeen
"renewed:`$(`$first -ne `$second)"
"@ $short
        $out = Get-Lines $r
        $out | Should -Contain 'renewed:True'
        $signin = (Get-Signins $short) | Where-Object { $_.refreshes -ge 1 } | Select-Object -Last 1
        $signin | Should -Not -BeNullOrEmpty
    }

    It 'keeps the refresh token out of every stream, with -Verbose and -Debug' {
        $r = Invoke-InSession @"
$SignIn -RawOutput -Verbose -Debug *>&1 | ForEach-Object { if (`$_ -is [Management.Automation.InformationRecord] -or `$_ -is [Management.Automation.VerboseRecord] -or `$_ -is [Management.Automation.DebugRecord] -or `$_ -is [Management.Automation.WarningRecord] -or `$_ -is [Management.Automation.ErrorRecord]) { "stream:`$_" } }
$SignIn -Verbose -Debug *>&1 | ForEach-Object { "stream2:`$_" }
"@ $short
        $signins = Get-Signins $short
        $r.StdOut | Should -Match 'stream:'
        $r.StdOut | Should -Match 'Renewed this session'
        foreach ($s in $signins) {
            $r.StdOut.Contains($s.refresh_token) | Should -BeFalse
            $r.StdErr.Contains($s.refresh_token) | Should -BeFalse
        }
    }
}

Describe 'Remove-Module takes back what the module set' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1') }
    AfterAll { Stop-FakeAuthority $fa }

    It 'removes the -Token default, withdraws its script block and Renew, and forgets the session''s tokens' {
        $r = Invoke-InSession @"
$SignIn 6>`$null | Set-D365ODataTokenInSession
`$sb = `$PSDefaultParameterValues['*-D365*:Token']
"before:`$((Get-D365TokenSeen) -like 'seen:Bearer *')"
`$grant = [regex]::Match(`$sb.ToString(), "Renew\((\d+), '([0-9a-f]+)'\)")
"grant:`$(`$grant.Success)"
"renew-before:`$([D365fo.Interactive.SessionDefault]::Renew([uint64]`$grant.Groups[1].Value, `$grant.Groups[2].Value).Bearer -like 'Bearer *')"
Remove-Module d365fo.interactive
"has:`$(`$PSDefaultParameterValues.Contains('*-D365*:Token'))"
function Get-D365Later { [CmdletBinding()] param([string] `$Token) "later:`$Token" }
Get-D365Later
"copy:`$(& `$sb 3>`$null)"
`$renewed = [D365fo.Interactive.SessionDefault]::Renew([uint64]`$grant.Groups[1].Value, `$grant.Groups[2].Value)
"renew-after:`$(`$renewed.Bearer)|`$(`$renewed.Warning -match 'removed')"
Import-Module '$ModuleManifest'
$SignIn
"@ $fa
        $out = Get-Lines $r
        $out | Should -Contain 'before:True'
        $out | Should -Contain 'grant:True'
        $out | Should -Contain 'renew-before:True'
        $out | Should -Contain 'has:False'
        $out | Should -Contain 'later:' -Because 'a D365 command defined after the removal gets no bearer'
        $out | Should -Contain 'copy:' -Because 'a kept copy of the default''s script block answers no token'
        $out | Should -Contain 'renew-after:|True'
        ($out -join "`n") | Should -Match 'enter the code' -Because 'the session''s tokens were forgotten, so the next call signs in'
        ($out -join "`n") | Should -Not -Match 'Using this session''s token'
    }

    It 'leaves a -Token default the user set since alone' {
        $out = Get-Lines (Invoke-InSession @"
$SignIn 6>`$null | Set-D365ODataTokenInSession
`$PSDefaultParameterValues['*-D365*:Token'] = 'Bearer users.own'
Remove-Module d365fo.interactive
"kept:`$(`$PSDefaultParameterValues['*-D365*:Token'])"
"@ $fa)
        $out | Should -Contain 'kept:Bearer users.own'
    }
}
