namespace Plandex.Grains.Encryption;

/// <summary>Whose data key encrypts a piece of data: a plan, an account or an org.</summary>
public readonly record struct DataSubject(Guid Id, string Kind)
{
    public static DataSubject Plan(Guid id) => new(id, "plan");
    public static DataSubject Account(Guid id) => new(id, "account");
    public static DataSubject Org(Guid id) => new(id, "org");
    public override string ToString() => $"{Kind} {Id}";
}
