# Builds the module's help from the markdown in module/help, written in platyPS's format (schema 2.0.0):
#   <Command>.md  -> en-US/<external help file> (MAML), one file per distinct "external help file" value
#   about_*.md    -> en-US/about_*.help.txt
# platyPS is not available on the project's machines, so this is a small converter of that documented format.
# Parameter metadata in the MAML (type, position, required, pipeline input, aliases, parameter sets) comes from
# each parameter's ```yaml block. Output is deterministic and a file is written only when its content changed,
# so a second build touches nothing.

Set-StrictMode -Version Latest

function Build-Help {
    param([Parameter(Mandatory)] [string] $SourceDir, [Parameter(Mandatory)] [string] $ModuleDir)
    if (-not (Test-Path $SourceDir)) { return }
    $culture = Join-Path $ModuleDir 'en-US'
    $byHelpFile = [ordered]@{}
    foreach ($file in Get-ChildItem -LiteralPath $SourceDir -Filter '*.md' -File | Sort-Object Name) {
        if ($file.BaseName -like 'about_*') {
            $text = ConvertFrom-AboutMarkdown -Markdown ([IO.File]::ReadAllText($file.FullName))
            Write-HelpFileIfChanged -Path (Join-Path $culture "$($file.BaseName).help.txt") -Value $text
            continue
        }
        $command = Read-CommandHelpMarkdown -Path $file.FullName
        $target = $command.HelpFile
        if (-not $byHelpFile.Contains($target)) { $byHelpFile[$target] = [Collections.Generic.List[object]]::new() }
        $byHelpFile[$target].Add($command)
    }
    foreach ($helpFile in $byHelpFile.Keys) {
        $xml = ConvertTo-Maml -Commands ($byHelpFile[$helpFile] | Sort-Object Name)
        Write-HelpFileIfChanged -Path (Join-Path $culture $helpFile) -Value $xml
    }
}

function Write-HelpFileIfChanged([string] $Path, [string] $Value) {
    # UTF-8 with a BOM: Windows PowerShell 5.1 reads a .help.txt without one in the ANSI code page.
    $encoding = [Text.UTF8Encoding]::new($true)
    if ((Test-Path -LiteralPath $Path) -and [IO.File]::ReadAllText($Path, $encoding) -ceq $Value) { return }
    New-Item -ItemType Directory -Force (Split-Path $Path) | Out-Null
    [IO.File]::WriteAllText($Path, $Value, $encoding)
    Write-Host "Help: wrote $Path"
}

function Split-MarkdownParagraphs([string[]] $Lines) {
    # Paragraphs are separated by blank lines; line breaks inside a paragraph are kept, as platyPS keeps them.
    $paras = [Collections.Generic.List[string]]::new()
    $current = [Collections.Generic.List[string]]::new()
    foreach ($line in $Lines) {
        if ($line.Trim() -eq '') {
            if ($current.Count) { $paras.Add(($current -join "`n")); $current.Clear() }
        } else { $current.Add($line.TrimEnd()) }
    }
    if ($current.Count) { $paras.Add(($current -join "`n")) }
    , $paras.ToArray()
}

function Read-CommandHelpMarkdown {
    <# Parses one platyPS command markdown file into a plain object. Fails with the file and line on a shape it
       does not know, rather than emitting help that silently misses a part. #>
    param([Parameter(Mandatory)] [string] $Path)
    $lines = [IO.File]::ReadAllText($Path) -split '\r?\n'
    $name = Split-Path -Leaf $Path
    $i = 0
    $front = @{}
    if ($lines[0] -eq '---') {
        $i = 1
        while ($i -lt $lines.Count -and $lines[$i] -ne '---') {
            if ($lines[$i] -match '^([^:]+):\s*(.*)$') { $front[$Matches[1].Trim()] = $Matches[2].Trim() }
            $i++
        }
        $i++
    }
    if (-not $front['external help file']) { throw "$name has no 'external help file' in its front matter." }
    if ($front['schema'] -and $front['schema'] -ne '2.0.0') { throw "$name uses platyPS schema $($front['schema']); only 2.0.0 is supported." }

    # Cut the body into level-2 sections (## NAME) and, inside them, level-3 subsections (### Name).
    $command = $null
    $sections = [ordered]@{}
    $section = $null
    $inFence = $false
    for (; $i -lt $lines.Count; $i++) {
        $line = $lines[$i]
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match '^# (.+)$' -and -not $command) { $command = $Matches[1].Trim(); continue }
        if (-not $inFence -and $line -match '^## (.+)$') {
            $section = $Matches[1].Trim().ToUpperInvariant()
            $sections[$section] = [Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $section) { $sections[$section].Add($line) }
    }
    if (-not $command) { throw "$name has no '# <command name>' title." }
    if ($command -ne [IO.Path]::GetFileNameWithoutExtension($Path)) { throw "$name documents '$command'; the file must be named after the command." }
    foreach ($required in 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $sections.Contains($required)) { throw "$name has no '## $required' section." }
    }

    $examples = foreach ($sub in Split-Subsections $sections['EXAMPLES']) { ConvertFrom-ExampleLines $sub.Title $sub.Lines }
    $parameters = foreach ($sub in Split-Subsections $sections['PARAMETERS']) {
        if ($sub.Title -eq 'CommonParameters' -or $sub.Title -eq 'WorkflowParameters') { continue }
        if ($sub.Title -notmatch '^-(\S+)$') { throw "$name has a parameter heading '### $($sub.Title)' that does not start with '-'." }
        ConvertFrom-ParameterLines $name $Matches[1] $sub.Lines
    }
    $typesIn = if ($sections.Contains('INPUTS')) { foreach ($s in Split-Subsections $sections['INPUTS']) { [pscustomobject]@{ Name = $s.Title; Paragraphs = Split-MarkdownParagraphs $s.Lines } } }
    $typesOut = if ($sections.Contains('OUTPUTS')) { foreach ($s in Split-Subsections $sections['OUTPUTS']) { [pscustomobject]@{ Name = $s.Title; Paragraphs = Split-MarkdownParagraphs $s.Lines } } }
    $links = [Collections.Generic.List[object]]::new()
    if ($front['online version']) { $links.Add([pscustomobject]@{ Text = 'Online Version:'; Uri = $front['online version'] }) }
    if ($sections.Contains('RELATED LINKS')) {
        foreach ($l in $sections['RELATED LINKS']) {
            if ($l -match '^\s*\[([^\]]+)\]\(([^)]*)\)\s*$') { $links.Add([pscustomobject]@{ Text = $Matches[1]; Uri = $Matches[2] }) }
        }
    }
    [pscustomobject]@{
        Name        = $command
        HelpFile    = $front['external help file']
        Synopsis    = Split-MarkdownParagraphs $sections['SYNOPSIS']
        Description = Split-MarkdownParagraphs $sections['DESCRIPTION']
        Examples    = @($examples)
        Parameters  = @($parameters)
        Inputs      = @($typesIn)
        Outputs     = @($typesOut)
        Notes       = if ($sections.Contains('NOTES')) { Split-MarkdownParagraphs $sections['NOTES'] } else { @() }
        Links       = $links.ToArray()
    }
}

function Split-Subsections($Lines) {
    $title = $null
    $buffer = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match '^### (.+)$') {
            if ($null -ne $title) { [pscustomobject]@{ Title = $title; Lines = $buffer.ToArray() } }
            $title = $Matches[1].Trim()
            $buffer = [Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $buffer) { $buffer.Add($line) }
    }
    if ($null -ne $title) { [pscustomobject]@{ Title = $title; Lines = $buffer.ToArray() } }
}

function Split-Fences([string[]] $Lines) {
    # Returns text lines and fenced blocks in order: @{ Kind = 'text'|'code'; Info; Lines }.
    $parts = [Collections.Generic.List[object]]::new()
    $buffer = [Collections.Generic.List[string]]::new()
    $info = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```(.*)$') {
            if ($inFence) {
                $parts.Add([pscustomobject]@{ Kind = 'code'; Info = $info; Lines = $buffer.ToArray() })
            } else {
                if ($buffer.Count) { $parts.Add([pscustomobject]@{ Kind = 'text'; Info = $null; Lines = $buffer.ToArray() }) }
                $info = $Matches[1].Trim()
            }
            $buffer.Clear()
            $inFence = -not $inFence
            continue
        }
        $buffer.Add($line)
    }
    if ($inFence) { throw 'A code fence (```) is not closed.' }
    if ($buffer.Count) { $parts.Add([pscustomobject]@{ Kind = 'text'; Info = $null; Lines = $buffer.ToArray() }) }
    $parts.ToArray()
}

function ConvertFrom-ExampleLines([string] $Title, [string[]] $Lines) {
    # platyPS: optional introduction text, one or more code blocks, then the remarks.
    $intro = [Collections.Generic.List[string]]::new()
    $code = [Collections.Generic.List[string]]::new()
    $remarks = [Collections.Generic.List[string]]::new()
    foreach ($part in Split-Fences $Lines) {
        if ($part.Kind -eq 'code') { $code.Add(($part.Lines -join "`n").Trim("`n")) }
        elseif ($code.Count) { $remarks.AddRange([string[]]$part.Lines) }
        else { $intro.AddRange([string[]]$part.Lines) }
    }
    [pscustomobject]@{
        Title        = $Title
        Introduction = Split-MarkdownParagraphs $intro.ToArray()
        Code         = $code -join "`n`n"
        Remarks      = Split-MarkdownParagraphs $remarks.ToArray()
    }
}

function ConvertFrom-ParameterLines([string] $File, [string] $Name, [string[]] $Lines) {
    $description = [Collections.Generic.List[string]]::new()
    $sets = [Collections.Generic.List[object]]::new()
    foreach ($part in Split-Fences $Lines) {
        if ($part.Kind -eq 'text') { if (-not $sets.Count) { $description.AddRange([string[]]$part.Lines) }; continue }
        if ($part.Info -ne 'yaml') { continue }
        $yaml = @{}
        foreach ($l in $part.Lines) { if ($l -match '^([^:]+):\s*(.*)$') { $yaml[$Matches[1].Trim()] = $Matches[2].Trim() } }
        $sets.Add($yaml)
    }
    if (-not $sets.Count) { throw "$File documents -$Name without a ```yaml block (Type, Required, Position, …)." }
    $first = $sets[0]
    if (-not $first['Type']) { throw "$File documents -$Name without a Type." }
    $split = { param($v) if (-not $v) { @() } else { @($v -split '\s*,\s*' | Where-Object { $_ }) } }
    [pscustomobject]@{
        Name        = $Name
        Description = Split-MarkdownParagraphs $description.ToArray()
        Type        = $first['Type']
        Aliases     = @(& $split $first['Aliases'])
        Accepted    = @(& $split $first['Accepted values'])
        Default     = if ($first['Default value']) { $first['Default value'] } else { 'None' }
        Globbing    = $first['Accept wildcard characters'] -eq 'True'
        # One entry per yaml block: a parameter may be required in one set and optional in another.
        Sets        = @(foreach ($y in $sets) {
                [pscustomobject]@{
                    Names    = @(& $split $(if ($y['Parameter Sets']) { $y['Parameter Sets'] } else { '(All)' }))
                    Required = $y['Required'] -eq 'True'
                    Position = if ($y['Position']) { $y['Position'] } else { 'Named' }
                    Pipeline = if ($y['Accept pipeline input']) { $y['Accept pipeline input'] } else { 'False' }
                }
            })
    }
}

function Get-ParameterSetNames($Command) {
    $names = [Collections.Generic.List[string]]::new()
    foreach ($p in $Command.Parameters) {
        foreach ($s in $p.Sets) { foreach ($n in $s.Names) { if ($n -ne '(All)' -and -not $names.Contains($n)) { $names.Add($n) } } }
    }
    if (-not $names.Count) { $names.Add('(All)') }
    $names.ToArray()
}

function ConvertTo-Maml {
    param([Parameter(Mandatory)] [object[]] $Commands)
    $ns = @{
        msh = 'http://msh'
        maml = 'http://schemas.microsoft.com/maml/2004/10'
        command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
        dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
        MSHelp = 'http://msdn.microsoft.com/mshelp'
    }
    $settings = [Xml.XmlWriterSettings]::new()
    $settings.Indent = $true
    $settings.IndentChars = '  '
    $settings.NewLineChars = "`n"
    $settings.Encoding = [Text.UTF8Encoding]::new($false)
    $sb = [Text.StringBuilder]::new()
    $w = [Xml.XmlWriter]::Create([IO.StringWriter]::new($sb), $settings)

    $el = { param($prefix, $local) $w.WriteStartElement($prefix, $local, $ns[$prefix]) }
    $text = { param($prefix, $local, $value) $w.WriteElementString($prefix, $local, $ns[$prefix], $value) }
    $paras = {
        param($prefix, $local, [string[]] $values)
        & $el $prefix $local
        foreach ($v in $values) { & $text 'maml' 'para' $v }
        $w.WriteEndElement()
    }
    $writeParameter = {
        param($p, $set, [bool] $inSyntax)
        & $el 'command' 'parameter'
        $w.WriteAttributeString('required', $set.Required.ToString().ToLowerInvariant())
        $w.WriteAttributeString('variableLength', ($p.Type -match '\[\]$').ToString().ToLowerInvariant())
        $w.WriteAttributeString('globbing', $p.Globbing.ToString().ToLowerInvariant())
        $w.WriteAttributeString('pipelineInput', $set.Pipeline)
        $w.WriteAttributeString('position', $set.Position.ToLowerInvariant())
        $w.WriteAttributeString('aliases', $(if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }))
        & $text 'maml' 'name' $p.Name
        & $paras 'maml' 'description' $p.Description
        if ($p.Accepted.Count -and $inSyntax) {
            & $el 'command' 'parameterValueGroup'
            foreach ($v in $p.Accepted) {
                & $el 'command' 'parameterValue'
                $w.WriteAttributeString('required', 'false'); $w.WriteAttributeString('variableLength', 'false')
                $w.WriteString($v)
                $w.WriteEndElement()
            }
            $w.WriteEndElement()
        }
        if ($p.Type -ne 'SwitchParameter') {
            & $el 'command' 'parameterValue'
            $w.WriteAttributeString('required', $set.Required.ToString().ToLowerInvariant())
            $w.WriteAttributeString('variableLength', ($p.Type -match '\[\]$').ToString().ToLowerInvariant())
            $w.WriteString($p.Type)
            $w.WriteEndElement()
        }
        & $el 'dev' 'type'
        & $text 'maml' 'name' $p.Type
        & $text 'maml' 'uri' ''
        $w.WriteEndElement()
        & $text 'dev' 'defaultValue' $p.Default
        $w.WriteEndElement()
    }

    $w.WriteStartDocument()
    $w.WriteStartElement('helpItems', $ns.msh)
    $w.WriteAttributeString('schema', 'maml')
    foreach ($c in $Commands) {
        & $el 'command' 'command'
        foreach ($prefix in 'maml', 'command', 'dev', 'MSHelp') { $w.WriteAttributeString('xmlns', $prefix, $null, $ns[$prefix]) }
        $verb, $noun = $c.Name -split '-', 2
        & $el 'command' 'details'
        & $text 'command' 'name' $c.Name
        & $text 'command' 'verb' $verb
        & $text 'command' 'noun' $noun
        & $paras 'maml' 'description' $c.Synopsis
        $w.WriteEndElement()
        & $paras 'maml' 'description' $c.Description

        & $el 'command' 'syntax'
        foreach ($setName in Get-ParameterSetNames $c) {
            & $el 'command' 'syntaxItem'
            & $text 'maml' 'name' $c.Name
            # As Get-Command shows a syntax: positional parameters by position, then the named ones.
            $inSet = foreach ($p in $c.Parameters) {
                $s = $p.Sets | Where-Object { $_.Names -contains $setName -or $_.Names -contains '(All)' } | Select-Object -First 1
                if ($s) { [pscustomobject]@{ P = $p; S = $s; Order = $(if ($s.Position -match '^\d+$') { [int]$s.Position } else { [int]::MaxValue }) } }
            }
            foreach ($x in $inSet | Sort-Object Order) { & $writeParameter $x.P $x.S $true }
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        & $el 'command' 'parameters'
        foreach ($p in $c.Parameters) { & $writeParameter $p $p.Sets[0] $false }
        $w.WriteEndElement()

        foreach ($io in @(@('inputTypes', 'inputType', $c.Inputs), @('returnValues', 'returnValue', $c.Outputs))) {
            & $el 'command' $io[0]
            foreach ($t in $io[2]) {
                & $el 'command' $io[1]
                & $el 'dev' 'type'
                & $text 'maml' 'name' $t.Name
                $w.WriteEndElement()
                & $paras 'maml' 'description' $t.Paragraphs
                $w.WriteEndElement()
            }
            $w.WriteEndElement()
        }

        & $el 'maml' 'alertSet'
        & $el 'maml' 'alert'
        foreach ($n in $c.Notes) { & $text 'maml' 'para' $n }
        $w.WriteEndElement()
        $w.WriteEndElement()

        & $el 'command' 'examples'
        $n = 0
        foreach ($e in $c.Examples) {
            $n++
            & $el 'command' 'example'
            $title = if ($e.Title -match '^example\s+\d+$') { "Example $n" } else { $e.Title }
            & $text 'maml' 'title' "-------------------------- $title --------------------------"
            if ($e.Introduction.Count) { & $paras 'maml' 'introduction' $e.Introduction }
            & $text 'dev' 'code' $e.Code
            & $paras 'dev' 'remarks' $e.Remarks
            $w.WriteEndElement()
        }
        $w.WriteEndElement()

        & $el 'command' 'relatedLinks'
        foreach ($l in $c.Links) {
            & $el 'maml' 'navigationLink'
            & $text 'maml' 'linkText' $l.Text
            & $text 'maml' 'uri' $l.Uri
            $w.WriteEndElement()
        }
        $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndDocument()
    $w.Flush()
    $w.Dispose()
    # StringWriter reports UTF-16; the file is written as UTF-8, so say so.
    ($sb.ToString() -replace '^<\?xml version="1.0" encoding="utf-16"\?>', '<?xml version="1.0" encoding="utf-8"?>') + "`n"
}

function ConvertFrom-AboutMarkdown {
    <# platyPS's about-topic markdown to the plain text Get-Help shows: '# HEADING' lines at the margin in
       capitals, everything else indented by four spaces, fenced code by eight. The first '# about_X' title
       and its '## about_X' repeat become the TOPIC heading. #>
    param([Parameter(Mandatory)] [string] $Markdown)
    $out = [Collections.Generic.List[string]]::new()
    $inFence = $false
    $lines = $Markdown -split '\r?\n'
    $start = 0
    if ($lines[0] -eq '---') { $start = [Array]::IndexOf($lines, '---', 1) + 1 }
    $topicDone = $false
    for ($i = $start; $i -lt $lines.Count; $i++) {
        $line = $lines[$i]
        if ($line -match '^```') { $inFence = -not $inFence; continue }
        if ($inFence) { $out.Add($(if ($line) { '        ' + $line } else { '' })); continue }
        if (-not $topicDone -and $line -match '^#{1,2} (about_\S+)\s*$') {
            if (-not $out.Contains('TOPIC')) { $out.Add('TOPIC'); $out.Add('    ' + $Matches[1]) }
            continue
        }
        if ($line -match '^# (.+)$') { $topicDone = $true; $out.Add(''); $out.Add($Matches[1].Trim().ToUpperInvariant()); continue }
        if ($line -match '^#{2,} (.+)$') { $topicDone = $true; $out.Add(''); $out.Add('  ' + $Matches[1].Trim()); continue }
        $out.Add($(if ($line.Trim()) { '    ' + $line.TrimEnd() } else { '' }))
    }
    # Collapse runs of blank lines that headings and paragraphs leave behind.
    ((($out -join "`n") -replace "\n{3,}", "`n`n").Trim("`n")) + "`n"
}
