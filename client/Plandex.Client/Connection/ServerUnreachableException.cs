namespace Plandex.Client.Connection;

/// <summary>The gateways did not answer; the message names them and nothing else.</summary>
public sealed class ServerUnreachableException(string message, Exception? inner = null) : Exception(message, inner);
