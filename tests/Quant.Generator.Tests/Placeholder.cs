namespace Quant.Generator.Tests;
