# Every exported command has full help (built into MAML from module/help/*.md) whose facts match the command,
# whose examples parse and call only real commands, and whose online link lands on a section of docs/commands.md;
# the about topic is there; the links of docs/commands.md and README.md resolve; and the help is written in this
# module's own words, not d365fo.integrations'.
# The commands are discovered from the built module, so a command added later is checked without editing this file.
# Written for Windows PowerShell 5.1 as well: CI runs this file under powershell.exe on Windows.

BeforeDiscovery {
    $manifest = Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1'
    Import-Module $manifest -Force
    $commands = @(Get-Command -Module d365fo.interactive | Sort-Object Name | ForEach-Object { @{ Name = $_.Name } })

    # d365fo.integrations' comment-based help, to compare the prose with: D365FO_THIRD_PARTY, else the project's
    # shared folder beside the clone (as Interop.Tests.ps1 finds the module).
    $originalHelp = @($env:D365FO_THIRD_PARTY, (Join-Path $env:D365FO_TEST_REPO '../shared/third-party'), '/work/shared/third-party') |
        Where-Object { $_ } | ForEach-Object { Join-Path $_ 'd365fo.integrations/functions' } |
        Where-Object { Test-Path (Join-Path $_ '*.ps1') } | Select-Object -First 1
}

BeforeAll {
    $script:Manifest = Join-Path $env:D365FO_TEST_MODULE 'd365fo.interactive.psd1'
    Import-Module $script:Manifest -Force
    $script:Repo = (Resolve-Path $env:D365FO_TEST_REPO).Path
    $script:CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    $script:OnlineBase = 'https://github.com/d365collaborative/d365fo.interactive/blob/main/docs/commands.md#'

    function Get-ParaText($Paragraphs) { (@($Paragraphs) | ForEach-Object { $_.Text }) -join "`n" }

    function Split-Markdown([string] $Path) {
        <# A markdown file as its prose lines and its fenced code blocks (info string and text). #>
        $prose = [Collections.Generic.List[string]]::new()
        $blocks = [Collections.Generic.List[object]]::new()
        $fence = $null
        foreach ($line in ([IO.File]::ReadAllText($Path) -split '\r?\n')) {
            if ($line -match '^```(.*)$') {
                if ($null -eq $fence) { $fence = [pscustomobject]@{ Info = $Matches[1].Trim(); Lines = [Collections.Generic.List[string]]::new() } }
                else { $blocks.Add([pscustomobject]@{ Info = $fence.Info; Text = ($fence.Lines -join "`n") }); $fence = $null }
                continue
            }
            if ($null -ne $fence) { $fence.Lines.Add($line) } else { $prose.Add($line) }
        }
        [pscustomobject]@{ Prose = $prose.ToArray(); Code = $blocks.ToArray() }
    }

    function Get-MarkdownAnchors([string] $Path) {
        <# The anchors GitHub gives the headings of a markdown file: lower case, punctuation dropped (letters,
           digits, spaces, '-' and '_' stay), spaces to '-', a repeated anchor numbered -1, -2, ... #>
        $seen = @{}
        foreach ($line in (Split-Markdown $Path).Prose) {
            if ($line -notmatch '^#{1,6}\s+(.+?)\s*#*\s*$') { continue }
            $anchor = ($Matches[1].ToLowerInvariant() -replace '[^\p{L}\p{Nd}\s_-]', '') -replace ' ', '-'
            if ($seen.ContainsKey($anchor)) { $seen[$anchor]++; "$anchor-$($seen[$anchor])" } else { $seen[$anchor] = 0; $anchor }
        }
    }

    function Get-MarkdownLinkProblems([string] $Path) {
        <# Every link of the file that is not absolute (http:, mailto: ...) must name a file or folder inside the
           repository, and its #anchor, if any, a heading of that markdown file (or of this one for '#anchor'). #>
        $folder = Split-Path -Parent $Path
        foreach ($line in (Split-Markdown $Path).Prose) {
            $withoutCode = $line -replace '`[^`]*`', ''
            foreach ($m in [regex]::Matches($withoutCode, '\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')) {
                $target = $m.Groups[1].Value
                if ($target -match '^[a-zA-Z][a-zA-Z0-9+.-]*:') { continue }
                $file, $anchor = $target -split '#', 2
                $resolved = if ($file) { [IO.Path]::GetFullPath((Join-Path $folder ([Uri]::UnescapeDataString($file)))) } else { $Path }
                if (-not $resolved.StartsWith($script:Repo) -or -not (Test-Path -LiteralPath $resolved)) { "$target (no such file in the repository)"; continue }
                if ($anchor -and $resolved -like '*.md' -and @(Get-MarkdownAnchors $resolved) -notcontains $anchor) { "$target (no heading with that anchor)" }
            }
        }
    }

    function Get-CodeProblems([string] $Code, [switch] $AnyCommand) {
        <# What is wrong with a piece of example code: parse errors, and (unless -AnyCommand) commands that are
           neither this module's nor PowerShell's own (Microsoft.PowerShell.*). #>
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref] $tokens, [ref] $errors)
        foreach ($e in $errors) { "parse error: $($e.Message)" }
        if ($AnyCommand -or $errors.Count) { return }
        foreach ($c in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true)) {
            $name = $c.GetCommandName()
            if (-not $name) { "a command whose name is computed: $c"; continue }
            $found = Get-Command -Name $name -ErrorAction SilentlyContinue | Select-Object -First 1
            if ($found -is [System.Management.Automation.AliasInfo]) { $found = $found.ResolvedCommand }
            if (-not $found -or "$($found.ModuleName)" -notmatch '^(d365fo\.interactive|Microsoft\.PowerShell\.\w+)$') { "unknown command: $name" }
        }
    }

    function Get-CommandHelpText([string] $Name) {
        <# All the text of a command's help as shipped: every text node of its <command:command> in the MAML. #>
        [xml] $maml = [IO.File]::ReadAllText((Join-Path $env:D365FO_TEST_MODULE 'en-US/d365fo.interactive.dll-Help.xml'))
        $ns = New-Object System.Xml.XmlNamespaceManager $maml.NameTable
        $ns.AddNamespace('command', 'http://schemas.microsoft.com/maml/dev/command/2004/10')
        $node = $maml.SelectSingleNode("//command:command[command:details/command:name='$Name']", $ns)
        (@($node.SelectNodes('.//text()') | ForEach-Object { $_.Value })) -join "`n"
    }

    $script:DocsPath = Join-Path $Repo 'docs/commands.md'
    $script:DocsAnchors = if (Test-Path $DocsPath) { @(Get-MarkdownAnchors $DocsPath) } else { @() }
}

Describe 'Help of <Name>' -ForEach $commands {
    BeforeAll {
        $help = Get-Help $Name -Full
        $command = Get-Command $Name
        $parameters = @($command.Parameters.Values | Where-Object { $CommonParameters -notcontains $_.Name })
        $documented = @($help.parameters.parameter | Where-Object { $_ })
    }

    It 'has a synopsis that is not the syntax' {
        $synopsis = "$($help.Synopsis)".Trim()
        $synopsis | Should -Not -BeNullOrEmpty
        # Without help, PowerShell makes the synopsis out of the syntax ("Name [[-P] <T>] ...").
        $synopsis | Should -Not -Match ('^' + [regex]::Escape($Name) + '(\s|$)')
        $synopsis | Should -Not -Be (Get-Command $Name -Syntax).Trim()
    }

    It 'has a description' {
        Get-ParaText $help.description | Should -Match '\w{3,}'
    }

    It 'has examples, each with code and remarks' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 1
        foreach ($e in $examples) {
            "$($e.code)".Trim() | Should -Not -BeNullOrEmpty -Because "$($e.title) needs code"
            Get-ParaText $e.remarks | Should -Match '\w{3,}' -Because "$($e.title) needs remarks"
        }
    }

    It 'has examples whose code parses and calls only this module''s and PowerShell''s commands' {
        $problems = foreach ($e in @($help.examples.example)) {
            Get-CodeProblems "$($e.code)" | ForEach-Object { "$($e.title.Trim('- ')): $_" }
        }
        $problems | Should -BeNullOrEmpty
    }

    It 'describes every parameter' {
        $undocumented = foreach ($p in $parameters) {
            $h = $documented | Where-Object { $_.name -eq $p.Name }
            if (-not $h -or -not ((Get-ParaText $h.description) -match '\w{3,}')) { $p.Name }
        }
        $undocumented | Should -BeNullOrEmpty -Because 'every parameter needs a description in module/help'
    }

    It 'documents no parameter the command does not have' {
        $extra = $documented | Where-Object { -not $command.Parameters.ContainsKey($_.name) } | ForEach-Object { $_.name }
        $extra | Should -BeNullOrEmpty
    }

    It 'states each parameter''s type, position, aliases, required and pipeline input as the command declares them' {
        # Every documented parameter the command has, -WhatIf and -Confirm included.
        foreach ($h in $documented) {
            $p = $command.Parameters[$h.name]
            if (-not $p) { continue }  # reported by 'documents no parameter the command does not have'
            $attributes = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
            $h.type.name | Should -Be $p.ParameterType.Name -Because "the type of -$($p.Name)"
            $positions = @($attributes | Where-Object { $_.Position -ge 0 } | ForEach-Object { $_.Position })
            $position = if ($positions.Count) { "$(($positions | Measure-Object -Minimum).Minimum)" } else { 'named' }
            "$($h.position)" | Should -Be $position -Because "the position of -$($p.Name) (0 is the first)"
            $helpAliases = @("$($h.aliases)" -split '\s*,\s*' | Where-Object { $_ -and $_ -ne 'none' } | Sort-Object)
            ($helpAliases -join ',') | Should -Be ((@($p.Aliases) | Sort-Object) -join ',') -Because "the aliases of -$($p.Name)"
            [bool]::Parse($h.required) | Should -Be (@($attributes | Where-Object { $_.Mandatory }).Count -gt 0) -Because "-$($p.Name) Required"
            $byValue = @($attributes | Where-Object { $_.ValueFromPipeline }).Count -gt 0
            $byName = @($attributes | Where-Object { $_.ValueFromPipelineByPropertyName }).Count -gt 0
            ("$($h.pipelineInput)" -match '^True') | Should -Be ($byValue -or $byName) -Because "-$($p.Name) Accept pipeline input"
            ("$($h.pipelineInput)" -match 'ByValue') | Should -Be $byValue -Because "-$($p.Name) Accept pipeline input"
            ("$($h.pipelineInput)" -match 'ByPropertyName') | Should -Be $byName -Because "-$($p.Name) Accept pipeline input"
        }
    }

    It 'has related links besides the online version' {
        @($help.relatedLinks.navigationLink | Where-Object { "$($_.linkText)".Trim() -and "$($_.linkText)" -notmatch '^Online Version' }).Count | Should -BeGreaterOrEqual 1
    }

    It 'has a HelpUri to its own section of docs/commands.md, and that section exists' {
        $command.HelpUri | Should -Be ($OnlineBase + $Name.ToLowerInvariant())
        $DocsAnchors | Should -Contain $Name.ToLowerInvariant() -Because "docs/commands.md needs a heading '## $Name'"
    }

    It 'has the same online link in its help as in its HelpUri, so Get-Help -Online and the MAML agree' {
        $online = @($help.relatedLinks.navigationLink | Where-Object { "$($_.uri)".Trim() }) | Select-Object -First 1
        "$($online.uri)" | Should -Be $command.HelpUri -Because "the 'online version:' of module/help/$Name.md"
    }
}

Describe 'docs/commands.md' {
    It 'exists' {
        Test-Path $DocsPath | Should -BeTrue
    }

    It 'has PowerShell examples that parse and call only this module''s and PowerShell''s commands' {
        $code = @((Split-Markdown $DocsPath).Code | Where-Object { $_.Info -eq 'powershell' })
        $code.Count | Should -BeGreaterOrEqual 1
        $problems = foreach ($c in $code) { Get-CodeProblems $c.Text | ForEach-Object { "$_ in: $($c.Text)" } }
        $problems | Should -BeNullOrEmpty
    }
}

Describe 'Relative links in <File>' -ForEach @(@{ File = 'docs/commands.md' }, @{ File = 'README.md' }) {
    It 'resolve to files of the repository and to headings there' {
        Get-MarkdownLinkProblems (Join-Path $Repo $File) | Should -BeNullOrEmpty
    }
}

Describe 'about_d365fo.interactive' {
    BeforeAll {
        # As after an install: the module's folder is on PSModulePath.
        $env:PSModulePath = (Split-Path $env:D365FO_TEST_MODULE) + [IO.Path]::PathSeparator + $env:PSModulePath
        $about = Get-Help about_d365fo.interactive | Out-String -Width 250
    }

    It 'is found by Get-Help' {
        $about | Should -Match 'about_d365fo.interactive'
        $about | Should -Match 'SHORT DESCRIPTION'
    }

    It 'covers <Topic>' -ForEach @(
        @{ Topic = 'the flow'; Pattern = 'THE SIGN-IN FLOW' }
        @{ Topic = 'RFC 8628 polling'; Pattern = 'RFC 8628[\s\S]*slow_down' }
        @{ Topic = 'one sign-in per session'; Pattern = 'at least 5 more minutes[\s\S]*refresh token[\s\S]*-Force' }
        @{ Topic = 'the session default of -Token'; Pattern = "'\*-D365\*:Token'" }
        @{ Topic = 'the failure semantics'; Pattern = 'stops the script[\s\S]*one warning[\s\S]*\$\? is then \$false' }
        @{ Topic = 'the shared store on Linux and macOS'; Pattern = 'PowerShell/PSFramework/psf_config\.json' }
        @{ Topic = 'the shared store on Windows'; Pattern = 'HKCU\\SOFTWARE\\Microsoft\\WindowsPowerShell\\PSFramework\\Config\\Default' }
        @{ Topic = 'D365FO_CONFIG_FILE'; Pattern = 'D365FO_CONFIG_FILE' }
        @{ Topic = 'the names of the shared values'; Pattern = 'd365fo\.integrations\.odata\.<name>\.<property>[\s\S]*d365fo\.integrations\.active\.odata\.config\.name' }
        @{ Topic = 'the configuration'; Pattern = 'Set-D365ActiveODataConfig' }
        @{ Topic = 'the import'; Pattern = 'Import-D365ODataConfig' }
        @{ Topic = 'the module settings'; Pattern = 'Set-D365ODataInteractiveSetting' }
        @{ Topic = 'D365FO_AUTHORITY'; Pattern = 'D365FO_AUTHORITY' }
        @{ Topic = 'D365FO_ENDPOINT_VERSION'; Pattern = 'D365FO_ENDPOINT_VERSION' }
        @{ Topic = 'D365FO_CLIENT_ID'; Pattern = 'D365FO_CLIENT_ID' }
        @{ Topic = 'D365FO_NO_BROWSER'; Pattern = 'D365FO_NO_BROWSER' }
        @{ Topic = 'D365FO_HTTP_TIMEOUT_SECS'; Pattern = 'D365FO_HTTP_TIMEOUT_SECS' }
        @{ Topic = 'the six shared names beside d365fo.integrations'; Pattern = 'BESIDE D365FO.INTEGRATIONS[\s\S]*d365fo\.integrations\\Get-D365ODataTokenInteractive' }
        @{ Topic = 'proxy variables'; Pattern = 'HTTPS_PROXY[\s\S]*ALL_PROXY[\s\S]*HTTP_PROXY[\s\S]*NO_PROXY' }
        @{ Topic = 'the Windows system proxy'; Pattern = 'system proxy' }
        @{ Topic = 'TLS trust on Linux'; Pattern = 'SSL_CERT_FILE[\s\S]*SSL_CERT_DIR' }
        @{ Topic = 'US Government'; Pattern = 'https://login\.microsoftonline\.us' }
        @{ Topic = 'China'; Pattern = 'https://login\.partner\.microsoftonline\.cn' }
        @{ Topic = 'headless use'; Pattern = 'HEADLESS' }
        @{ Topic = 'Conditional Access'; Pattern = 'AADSTS50097[\s\S]*AADSTS53003[\s\S]*AADSTS530033' }
        @{ Topic = 'AADSTS7000218'; Pattern = 'AADSTS7000218[\s\S]*Allow public client flows' }
        @{ Topic = 'AADSTS65002'; Pattern = 'AADSTS65002[\s\S]*own application' }
        @{ Topic = 'AADSTS50196'; Pattern = 'AADSTS50196' }
    ) {
        $about | Should -Match $Pattern
    }

    It 'has code that parses' {
        $code = @((Split-Markdown (Join-Path $Repo 'module/help/about_d365fo.interactive.md')).Code)
        $code.Count | Should -BeGreaterOrEqual 1
        # The about topic may show d365fo.integrations' data commands working with this module, so only parsing is checked.
        $problems = foreach ($c in $code) { Get-CodeProblems $c.Text -AnyCommand | ForEach-Object { "$_ in: $($c.Text)" } }
        $problems | Should -BeNullOrEmpty
    }
}

Describe 'The help names no page or default that this module does not have' {
    # The verification page is whatever the authority returns, and the defaults come from the active
    # configuration, not from module variables.
    It 'in <What>' -ForEach @(
        @{ What = 'the commands'' help'; Source = 'maml' }
        @{ What = 'the about topic'; Source = 'module/help/about_d365fo.interactive.md' }
        @{ What = 'docs/commands.md'; Source = 'docs/commands.md' }
    ) {
        $text = if ($Source -eq 'maml') { (Get-Command -Module d365fo.interactive | ForEach-Object { Get-CommandHelpText $_.Name }) -join "`n" } else { [IO.File]::ReadAllText((Join-Path $Repo $Source)) }
        $text | Should -Not -Match 'microsoft\.com/devicelogin'
        $text | Should -Not -Match '\$Script:'
    }
}

Describe 'The help is in this module''s own words' -ForEach @(@{ OriginalHelp = $originalHelp }) -Skip:(-not $originalHelp) -Tag 'SkipReason:needs d365fo.integrations'' functions/*.ps1 (../shared/third-party or D365FO_THIRD_PARTY)' {
    BeforeAll {
        # Text as words: lower case, whitespace collapsed, and the punctuation around each word dropped, so a
        # sentence copied with other quotes or full stops still counts as copied.
        function Get-Words([string] $Text) {
            @($Text.ToLowerInvariant() -split '\s+' | ForEach-Object { $_.Trim('"''.,;:()[]`*') } | Where-Object { $_ })
        }
        function Add-Shingles($Set, [string] $Text) {
            $w = Get-Words $Text
            for ($i = 0; $i + 8 -le $w.Count; $i++) { $null = $Set.Add(($w[$i..($i + 7)] -join ' ')) }
        }

        # d365fo.integrations' help: the comment-based help of each function, as PowerShell itself reads it.
        $script:Theirs = New-Object 'System.Collections.Generic.HashSet[string]'
        $script:OriginalFiles = @(Get-ChildItem -Path $OriginalHelp -Filter '*.ps1')
        foreach ($f in $OriginalFiles) {
            $tokens = $null; $errors = $null
            $ast = [System.Management.Automation.Language.Parser]::ParseFile($f.FullName, [ref] $tokens, [ref] $errors)
            foreach ($fn in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $true)) {
                $h = $fn.GetHelpContent()
                if (-not $h) { continue }
                $parts = @($h.Synopsis, $h.Description, $h.Notes) + @($h.Parameters.Values) + @($h.Examples) + @($h.Links) + @($h.Inputs) + @($h.Outputs)
                Add-Shingles $Theirs ($parts -join "`n")
            }
        }

        # A shared run made only of command names, parameter names and their values (a word right after or right
        # before a -Parameter, a variable, a URL, a GUID, a number) is a fact both helps must state, as in
        # "Add-D365ODataConfig -Name UAT -Tenant <guid> -Url https://...", not copied prose. At most this many such
        # runs are allowed; any other shared run fails the test.
        $script:FactualWord = '^(-[a-z]\w*|\$[\w:]+|[a-z]+-d365\w+|\||https?://\S+|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|\d+)$'
        $script:FactualAllowance = 5
        function Test-FactualRun([string] $Run) {
            $w = $Run -split ' '
            for ($k = 0; $k -lt $w.Count; $k++) {
                $isValue = ($k -gt 0 -and $w[$k - 1] -match '^-[a-z]') -or ($k + 1 -lt $w.Count -and $w[$k + 1] -match '^-[a-z]')
                if (-not $isValue -and $w[$k] -notmatch $FactualWord) { return $false }
            }
            $true
        }

        function Get-SharedRuns([string] $Text) {
            $ours = New-Object 'System.Collections.Generic.HashSet[string]'
            Add-Shingles $ours $Text
            $ours.IntersectWith($Theirs)
            @($ours)
        }
    }

    It 'reads d365fo.integrations'' help (<OriginalHelp>)' {
        $OriginalFiles.Count | Should -BeGreaterThan 0
        $Theirs.Count | Should -BeGreaterThan 1000 -Because 'the original help is long; finding little means it was not read'
    }

    It 'shares no 8-word run with it in <What>' -ForEach @(
        @{ What = 'the commands'' help (MAML)'; Source = 'maml' }
        @{ What = 'the about topic'; Source = 'about' }
        @{ What = 'docs/commands.md'; Source = 'docs/commands.md' }
    ) {
        $text = switch ($Source) {
            'maml' { (Get-Command -Module d365fo.interactive | ForEach-Object { Get-CommandHelpText $_.Name }) -join "`n`n" }
            'about' { [IO.File]::ReadAllText((Join-Path $env:D365FO_TEST_MODULE 'en-US/about_d365fo.interactive.help.txt')) }
            default { [IO.File]::ReadAllText((Join-Path $Repo $Source)) }
        }
        $shared = Get-SharedRuns $text
        $prose = @($shared | Where-Object { -not (Test-FactualRun $_) })
        $prose | Should -BeNullOrEmpty -Because 'prose does not carry over from another project; write it anew'
        @($shared).Count | Should -BeLessOrEqual $FactualAllowance -Because 'only a handful of runs of names and values may coincide'
    }
}

Describe 'The help build (.build/Help.ps1)' {
    BeforeAll {
        $helpScript = Join-Path $Repo '.build/Help.ps1'
        function Invoke-HelpBuild([string] $Source, [string] $Module) { & { . $helpScript; Build-Help -SourceDir $Source -ModuleDir $Module } 6>$null }
    }

    It 'has a markdown source for every exported command' {
        $sources = @(Get-ChildItem (Join-Path $Repo 'module/help') -Filter '*.md' | ForEach-Object { $_.BaseName })
        $missing = @(Get-Command -Module d365fo.interactive | Where-Object { $sources -notcontains $_.Name } | ForEach-Object { $_.Name })
        $missing | Should -BeNullOrEmpty
    }

    It 'writes MAML with the http:// namespaces, one command element per command' {
        [xml]$maml = Get-Content -Raw (Join-Path $env:D365FO_TEST_MODULE 'en-US/d365fo.interactive.dll-Help.xml')
        $maml.DocumentElement.NamespaceURI | Should -Be 'http://msh'
        $ns = New-Object System.Xml.XmlNamespaceManager $maml.NameTable
        $ns.AddNamespace('command', 'http://schemas.microsoft.com/maml/dev/command/2004/10')
        $names = @($maml.SelectNodes('//command:command/command:details/command:name', $ns) | ForEach-Object { $_.InnerText })
        $names | Should -Be @(Get-Command -Module d365fo.interactive | Sort-Object Name | ForEach-Object { $_.Name })
    }

    It 'writes only when the content changed' {
        $src = Join-Path $TestDrive 'help'
        $mod = Join-Path $TestDrive 'module'
        Copy-Item -Recurse (Join-Path $Repo 'module/help') $src
        Invoke-HelpBuild $src $mod
        $maml = Join-Path $mod 'en-US/d365fo.interactive.dll-Help.xml'
        $about = Join-Path $mod 'en-US/about_d365fo.interactive.help.txt'
        $before = @((Get-Item $maml).LastWriteTimeUtc, (Get-Item $about).LastWriteTimeUtc)
        $bytes = [IO.File]::ReadAllBytes($maml)
        Start-Sleep -Milliseconds 1100
        Invoke-HelpBuild $src $mod
        @((Get-Item $maml).LastWriteTimeUtc, (Get-Item $about).LastWriteTimeUtc) | Should -Be $before
        [IO.File]::ReadAllBytes($maml) | Should -Be $bytes

        $md = Join-Path $src 'Set-D365ODataTokenInSession.md'
        # Whatever the synopsis says today: the line after '## SYNOPSIS'.
        (Get-Content -Raw $md) -replace '(?m)(?<=^## SYNOPSIS\r?\n).+$', 'A changed synopsis' | Set-Content $md
        Invoke-HelpBuild $src $mod
        (Get-Item $maml).LastWriteTimeUtc | Should -BeGreaterThan $before[0]
        Get-Content -Raw $maml | Should -Match 'A changed synopsis'
        (Get-Item $about).LastWriteTimeUtc | Should -Be $before[1]
    }

    It 'refuses a parameter without its yaml block, naming the file and the parameter' {
        $src = Join-Path $TestDrive 'broken'
        New-Item -ItemType Directory $src | Out-Null
        $md = (Get-Content -Raw (Join-Path $Repo 'module/help/Set-D365ODataTokenInSession.md')) -replace '(?s)```yaml.*?```', ''
        Set-Content (Join-Path $src 'Set-D365ODataTokenInSession.md') $md
        { Invoke-HelpBuild $src (Join-Path $TestDrive 'broken-out') } | Should -Throw '*Set-D365ODataTokenInSession.md documents -BearerToken without a ```yaml block*'
    }
}
