# Builds MAML help (en-US/<assembly>-Help.xml) from the platyPS-format markdown in module/help.
function Build-Help {
    param([Parameter(Mandatory)] [string] $SourceDir, [Parameter(Mandatory)] [string] $ModuleDir)
    if (-not (Test-Path $SourceDir)) { return }
}
