namespace Quant.Cli.Tests;
