using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Plandex.Grains.Security;

namespace Plandex.Silo.Hosting;

/// <summary>
/// Console log format: one line per entry, redacted. Exceptions print as "Type: message" unless
/// Telemetry:StackTraces is on, so problems read as one line and no trace reaches the default log.
/// </summary>
internal sealed class OneLineConsoleFormatter(IOptionsMonitor<OneLineConsoleFormatter.Options> options)
    : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "plandex";

    internal sealed class Options : ConsoleFormatterOptions
    {
        public bool StackTraces { get; set; }
    }

    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = entry.Formatter?.Invoke(entry.State, entry.Exception) ?? "";
        var line = $"{DateTime.UtcNow:HH:mm:ss.fff} {Level(entry.LogLevel)} {entry.Category}: {message}";
        if (entry.Exception is { } e)
            line += options.CurrentValue.StackTraces ? Environment.NewLine + e : $" ({Causes(e)})";
        textWriter.WriteLine(Redactor.Redact(line));
    }

    /// <summary>
    /// "Type: first line of message" for the exception and each inner one. Only first lines: Orleans puts whole
    /// stack traces into some messages (a storage provider's failure during activation, for one).
    /// </summary>
    private static string Causes(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null && parts.Count < 4; x = x.InnerException)
            parts.Add($"{x.GetType().Name}: {FirstLine(x.Message)}");
        return string.Join("; caused by ", parts);
    }

    private static string FirstLine(string message)
    {
        var text = message.TrimStart();
        var end = text.IndexOfAny(['\r', '\n']);
        return end < 0 ? text : text[..end].TrimEnd();
    }

    private static string Level(LogLevel l) => l switch
    {
        LogLevel.Trace => "trce", LogLevel.Debug => "dbug", LogLevel.Information => "info",
        LogLevel.Warning => "warn", LogLevel.Error => "fail", LogLevel.Critical => "crit", _ => "none",
    };
}
