using System.Text;
using System.Text.Json;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>Anthropic Messages streaming.</summary>
public sealed class AnthropicWire : IProviderWire
{
    public string RelativePath => "messages";

    public byte[] Body(ProviderRequest request) => WireJson.Body(request.Model, w =>
    {
        w.WriteNumber("max_tokens", 8192);
        var system = string.Join("\n\n", request.Messages.Where(m => m.Role == "system").Select(m => m.Content));
        if (system.Length > 0) w.WriteString("system", system);
        WireJson.Messages(w, request.Messages.Where(m => m.Role != "system"), role => role == "assistant" ? "assistant" : "user");
    });

    public void WriteAuthHeaders(PinnedHeadWriter head, ReadOnlySpan<byte> key)
    {
        head.Ascii("x-api-key: ");
        head.Secret(key);
        head.Ascii("\r\nanthropic-version: 2023-06-01\r\n");
    }

    private enum Kind { Other, ContentBlockDelta, MessageStart, MessageDelta, MessageStop, Error }

    // One forward pass with Utf8JsonReader. Fields may come in any order, so a delta's text is appended as it is
    // read and taken back when the event's type turns out not to be a content_block_delta.
    public WireSignal Parse(ReadOnlySpan<byte> eventName, ReadOnlySpan<byte> data, StringBuilder text)
    {
        var r = new Utf8JsonReader(data);
        if (!r.Read()) throw new JsonException("empty event");
        if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); WireJson.ReadEnd(ref r); return default; }
        var mark = text.Length;
        Kind? type = null;
        int? input = null, output = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("type"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.String) type = KindOf(r.ValueSpan, r.ValueIsEscaped);
                else { r.Skip(); type = Kind.Other; }
            }
            else if (r.ValueTextEquals("delta"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    var isText = r.ValueTextEquals("text"u8);
                    r.Read();
                    if (isText && r.TokenType == JsonTokenType.String) WireJson.AppendString(ref r, text);
                    else r.Skip();
                }
            }
            else if (r.ValueTextEquals("message"u8))
            {
                r.Read();
                if (r.TokenType != JsonTokenType.StartObject) { r.Skip(); continue; }
                while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
                {
                    var isUsage = r.ValueTextEquals("usage"u8);
                    r.Read();
                    if (isUsage && r.TokenType == JsonTokenType.StartObject) input = ReadUsage(ref r, "input_tokens"u8) ?? input;
                    else r.Skip();
                }
            }
            else if (r.ValueTextEquals("usage"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.StartObject) output = ReadUsage(ref r, "output_tokens"u8) ?? output;
                else r.Skip();
            }
            else { r.Read(); r.Skip(); }
        }
        WireJson.ReadEnd(ref r);
        var kind = type ?? KindOf(eventName, false);
        if (kind != Kind.ContentBlockDelta) text.Length = mark;
        return kind switch
        {
            Kind.MessageStart => new WireSignal(false, input, null, null),
            Kind.MessageDelta => new WireSignal(false, null, output, null),
            Kind.MessageStop => new WireSignal(true, null, null, null),
            Kind.Error => new WireSignal(false, null, null, "the provider reported an error mid-stream"),
            _ => default,
        };
    }

    private static int? ReadUsage(ref Utf8JsonReader r, ReadOnlySpan<byte> name)
    {
        int? value = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals(name)) value = WireJson.ReadInt(ref r) ?? value;
            else { r.Read(); r.Skip(); }
        }
        return value;
    }

    private static Kind KindOf(ReadOnlySpan<byte> type, bool escaped)
    {
        if (escaped) return Kind.Other; // the known type names have nothing to escape
        if (type.SequenceEqual("content_block_delta"u8)) return Kind.ContentBlockDelta;
        if (type.SequenceEqual("message_start"u8)) return Kind.MessageStart;
        if (type.SequenceEqual("message_delta"u8)) return Kind.MessageDelta;
        if (type.SequenceEqual("message_stop"u8)) return Kind.MessageStop;
        if (type.SequenceEqual("error"u8)) return Kind.Error;
        return Kind.Other;
    }
}
