import NBDWire
import RDR

/// The answer to each option of the handshake.
extension Connection {
    func handle(_ option: ClientOption) -> Outcome {
        switch option {
        case .exportName(let name):
            switch resolve(name) {
            case .refused(_, let message):
                // EXPORT_NAME cannot carry an error: proto.md says to end the session.
                core.log("connection \(id): NBD_OPT_EXPORT_NAME '\(name)': \(message); connection closed")
                return .end
            case .found(let target):
                let reply = ExportNameReply(
                    size: UInt64(target.disk.size), flags: transmissionFlags, zeroPadding: !noZeroes)
                return send(reply.encoded) ? .enter(target) : .end
            }
        case .abort:
            _ = send(OptionReply(option: .abort, body: .ack).encoded)
            return .end
        case .list:
            // Only what a client can use now: nbdinfo --list and others GO to every name listed,
            // and an export the mirror semantics refuse would fail the whole listing.
            var out: [UInt8] = []
            for export in ExportName.all(disks: core.disks.diskNames) {
                guard case .found = resolve(export.name) else { continue }
                OptionReply(option: .list, body: .server(name: export.name, details: export.details)).encode(into: &out)
            }
            OptionReply(option: .list, body: .ack).encode(into: &out)
            return send(out) ? .next : .end
        case .info(let request), .go(let request):
            return exportInfo(request, go: option.code == .go)
        case .structuredReply:
            structured = true
            return reply(.structuredReply, .ack)
        case .listMetaContext(let request), .setMetaContext(let request):
            return metaContexts(request, set: option.code == .setMetaContext)
        case .other(let code, _):
            return reply(code, .error(.errUnsup, message: "\(code) is not supported by rdr serve"))
        }
    }

    private func reply(_ option: NBDOption, _ body: OptionReplyBody) -> Outcome {
        send(OptionReply(option: option, body: body).encoded) ? .next : .end
    }

    enum Resolution {
        case found(ExportTarget)
        case refused(OptionReplyType, String)
    }

    private func unknownExport(_ name: String, _ disks: [String]) -> String {
        "no export '\(name)'; the exports are DISK, DISK@production, DISK@upgrade, DISK@10 and DISK@11 for the disks \(disks.joined(separator: ", "))"
    }

    /// The export `name` names, if it exists, its disk opens and its side has access now.
    func resolve(_ name: String) -> Resolution {
        let disks = core.disks.diskNames
        guard let export = ExportName(name, disks: disks) else {
            return .refused(.errUnknown, unknownExport(name, disks))
        }
        let disk: VirtualDisk
        do { disk = try core.disks.disk(named: export.disk) } catch {
            return .refused(.errUnknown, "disk '\(export.disk)' cannot be served: \(error.message)")
        }
        do { try disk.checkAccess(side: export.side) } catch {
            return .refused(.errPolicy, error.message)
        }
        return .found(ExportTarget(name: export, disk: disk))
    }

    /// NBD_OPT_INFO and NBD_OPT_GO: the export's size and flags and block sizes (always), its
    /// name and description (when asked), then ACK; GO then enters transmission.
    private func exportInfo(_ request: ExportRequest, go: Bool) -> Outcome {
        let code: NBDOption = go ? .go : .info
        let target: ExportTarget
        switch resolve(request.name) {
        case .found(let found): target = found
        case .refused(let type, let message): return reply(code, .error(type, message: message))
        }
        var items: [InfoItem] = [
            .export(size: UInt64(target.disk.size), flags: transmissionFlags),
            .blockSize(
                BlockSizeConstraints(
                    minimum: UInt32(ServerConfiguration.minimumBlock),
                    preferred: UInt32(ServerConfiguration.preferredBlock),
                    maximum: UInt32(ServerConfiguration.maxPayload))),
        ]
        if request.infoRequests.contains(.name) { items.append(.name(target.name.text)) }
        if request.infoRequests.contains(.description) { items.append(.description(target.name.details)) }
        var out: [UInt8] = []
        for item in items { OptionReply(option: code, body: .info(item)).encode(into: &out) }
        OptionReply(option: code, body: .ack).encode(into: &out)
        guard send(out) else { return .end }
        guard go else { return .next }
        decoder.phase = .transmission
        return .enter(target)
    }

    /// LIST_META_CONTEXT lists (IDs 0, as proto.md asks); SET_META_CONTEXT replaces the
    /// selection, even when it fails, and needs structured replies first.
    private func metaContexts(_ request: MetaContextRequest, set: Bool) -> Outcome {
        let code: NBDOption = set ? .setMetaContext : .listMetaContext
        if set {
            contexts = []
            contextsExport = nil
            guard structured else {
                return reply(
                    code, .error(.errInvalid, message: "send NBD_OPT_STRUCTURED_REPLY before NBD_OPT_SET_META_CONTEXT"))
            }
        }
        let disks = core.disks.diskNames
        guard ExportName(request.exportName, disks: disks) != nil else {
            return reply(code, .error(.errUnknown, message: unknownExport(request.exportName, disks)))
        }
        let found = MetaContext.matching(request.queries, listing: !set)
        if set {
            contexts = found
            contextsExport = request.exportName
        }
        var out: [UInt8] = []
        for context in found {
            OptionReply(option: code, body: .metaContext(id: set ? context.rawValue : 0, name: context.name)).encode(
                into: &out)
        }
        OptionReply(option: code, body: .ack).encode(into: &out)
        return send(out) ? .next : .end
    }
}
