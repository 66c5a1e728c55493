using System;
using System.IO;
using Quant.Formats.Tests.Support;
using Quant.Runtime.IO;

namespace Quant.Runtime.Tests;

public sealed class MappedFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("quant-mapped-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Span_ReturnsTheFilesBytes_AndRefusesEveryRangeOutsideIt()
    {
        var rng = new SplitMix64(71);
        var bytes = new byte[1000];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)rng.NextU64();
        string path = Path.Combine(_dir, "a.bin");
        File.WriteAllBytes(path, bytes);
        using var file = MappedFile.Open(path);
        Assert.Equal(1000, file.Length);
        Assert.True(file.Span(17, 300, "range").SequenceEqual(bytes.AsSpan(17, 300)));
        Assert.True(file.Memory(999, 1, "last").Span.SequenceEqual(bytes.AsSpan(999, 1)));
        Assert.Equal(0, file.Span(1000, 0, "empty tail").Length);
        foreach (var (offset, length) in new (long, long)[] { (-1, 1), (0, 1001), (1000, 1), (1, long.MaxValue), (long.MaxValue, 2), (5, -1) })
        {
            var e = Assert.Throws<QuantFormatException>(() => file.Span(offset, length, "tensor 'x'"));
            Assert.Contains("tensor 'x'", e.Message);
            Assert.Contains("1000 bytes", e.Message);
        }
    }

    [Fact]
    public void EmptyFile_MapsToZeroLength()
    {
        string path = Path.Combine(_dir, "empty.bin");
        File.WriteAllBytes(path, []);
        using var file = MappedFile.Open(path);
        Assert.Equal(0, file.Length);
        Assert.Throws<QuantFormatException>(() => file.Span(0, 1, "header"));
    }

    [Fact]
    public void AtomicWriter_UncommittedLeavesNothing_CommittedReplacesTheTarget()
    {
        string path = Path.Combine(_dir, "out.bin");
        File.WriteAllBytes(path, [1, 2, 3]);
        using (var writer = AtomicFile.Create(path))
        {
            writer.Stream.Write(new byte[] { 9, 9 });
            Assert.True(File.Exists(writer.TemporaryPath));
        }
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir));

        using (var writer = AtomicFile.Create(path))
        {
            writer.Stream.Write(new byte[] { 7, 8 });
            writer.Commit();
        }
        Assert.Equal(new byte[] { 7, 8 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_dir));
    }
}
