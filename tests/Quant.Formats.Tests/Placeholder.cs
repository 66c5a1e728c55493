namespace Quant.Formats.Tests;
