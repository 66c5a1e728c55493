using System;
using System.Text;

namespace Quant.Generator.Helpers;

/// <summary>Writes C# text with indentation; <see cref="Block"/> opens a brace block that closes when disposed.</summary>
internal sealed class IndentedTextWriter
{
    private readonly StringBuilder _builder = new();
    private int _indent;
    private bool _atLineStart = true;

    public void WriteLine(string text = "")
    {
        if (text.Length > 0) Write(text);
        _builder.Append('\n');
        _atLineStart = true;
    }

    public void Write(string text)
    {
        if (_atLineStart && text.Length > 0)
        {
            _builder.Append(' ', _indent * 4);
            _atLineStart = false;
        }
        _builder.Append(text);
    }

    /// <summary>Writes several lines, each indented at the current level (blank lines stay blank).</summary>
    public void WriteLines(string text)
    {
        foreach (var line in text.Replace("\r\n", "\n").Split('\n')) WriteLine(line);
    }

    public IDisposable Block(string? header = null)
    {
        if (header is not null) WriteLine(header);
        WriteLine("{");
        _indent++;
        return new Closer(this, "}");
    }

    public IDisposable Indent()
    {
        _indent++;
        return new Closer(this, null);
    }

    public override string ToString() => _builder.ToString();

    private sealed class Closer(IndentedTextWriter writer, string? closing) : IDisposable
    {
        public void Dispose()
        {
            writer._indent--;
            if (closing is not null) writer.WriteLine(closing);
        }
    }
}
