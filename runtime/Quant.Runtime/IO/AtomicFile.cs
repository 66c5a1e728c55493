using System;
using System.IO;

namespace Quant.Runtime.IO;

/// <summary>
/// Writes files so that a reader never sees a half-written one: the bytes go to a temporary file in
/// the same folder, which replaces the target only when complete. A failure or a kill leaves the
/// target as it was and no file that looks complete.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="write">Writes the content into the temporary file's stream.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string temporary = TemporaryName(full);
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/>, atomically.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        byte[] copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>
    /// Opens a temporary file beside <paramref name="path"/> for writing as one goes; <see cref="AtomicFileWriter.Commit"/>
    /// renames it to <paramref name="path"/>, and disposing it uncommitted deletes it.
    /// </summary>
    public static AtomicFileWriter Create(string path) => new(path);

    internal static string TemporaryName(string full) =>
        Path.Combine(Path.GetDirectoryName(full) ?? ".", $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.partial");

    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>
/// A file being written under a temporary name: <see cref="Stream"/> takes the bytes, <see cref="Commit"/>
/// flushes them and renames the file to its target, and <see cref="Dispose"/> without a commit deletes it,
/// so an interrupted write never leaves a file that looks complete.
/// </summary>
public sealed class AtomicFileWriter : IDisposable
{
    private readonly string _temporary;
    private FileStream? _stream;

    internal AtomicFileWriter(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Target = Path.GetFullPath(path);
        _temporary = AtomicFile.TemporaryName(Target);
        _stream = new FileStream(_temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
    }

    /// <summary>The file that <see cref="Commit"/> creates or replaces.</summary>
    public string Target { get; }

    /// <summary>The temporary file's path (a hidden name ending in <c>.partial</c> in the target's folder).</summary>
    public string TemporaryPath => _temporary;

    /// <summary>The stream to write to.</summary>
    public Stream Stream => _stream ?? throw new ObjectDisposedException(nameof(AtomicFileWriter));

    /// <summary>Flushes the bytes to disk and renames the temporary file to <see cref="Target"/>.</summary>
    public void Commit()
    {
        var stream = _stream ?? throw new ObjectDisposedException(nameof(AtomicFileWriter));
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        _stream = null;
        try
        {
            File.Move(_temporary, Target, overwrite: true);
        }
        catch
        {
            AtomicFile.TryDelete(_temporary);
            throw;
        }
    }

    /// <summary>Deletes the temporary file unless <see cref="Commit"/> ran.</summary>
    public void Dispose()
    {
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        AtomicFile.TryDelete(_temporary);
    }
}
