import RDR

/// Steps that change the services of the machine model.
extension UpgradeController {
    /// Applies `change` to each of the configuration's services (`all`: every service).
    func services(_ s: Session, all: Bool = false, _ change: (inout SystemModel, String) -> Void) throws(RDRError) {
        var model = try SystemModel.load(system)
        let names = all ? model.services.map(\.name) : (try config(s)?.services.map(\.name) ?? [])
        for name in names where model.service(name) != nil { change(&model, name) }
        try model.save(system)
    }

    func stopProductionServices(_ s: Session) throws(RDRError) {
        try services(s) { m, name in m.update(name, .production) { $0.running = false } }
    }

    func bothSidesRunUpgraded(_ s: Session) throws(RDRError) {
        try services(s) { m, name in if let svc = m.service(name) { m.update(name, .production) { $0 = svc.upgrade } } }
    }

    func restoreUpgradeSide(_ s: Session) throws(RDRError) {
        try services(s, all: true) { m, name in
            if let svc = m.service(name) { m.update(name, .upgrade) { $0 = svc.production } }
        }
    }

    func disableUpgradeServices(_ s: inout Session, _ ctx: StepContext) throws(RDRError) {
        var model = try SystemModel.load(system)
        for name in try config(s)?.services.map(\.name) ?? [] {
            guard let svc = model.service(name) else { throw RDRError(.invalidState, "Service \(name) is not present") }
            if s.savedStartupTypes[name] == nil { s.savedStartupTypes[name] = svc.upgrade.startupType.rawValue }
            model.update(name, .upgrade) {
                $0.startupType = .Disabled
                $0.running = false
            }
            log.add(
                .information,
                "Service \(name): startup type \(s.savedStartupTypes[name] ?? "?") saved, Disabled and stopped on the Upgrade Side",
                parent: ctx.parent)
        }
        try store.save(&s)
        try model.save(system)
    }

    func restoreUpgradeServices(_ s: Session, _ ctx: StepContext) throws(RDRError) {
        var model = try SystemModel.load(system)
        for name in try config(s)?.services.map(\.name) ?? [] {
            let type = s.savedStartupTypes[name].flatMap(SystemModel.StartupType.init(rawValue:)) ?? .Automatic
            model.update(name, .upgrade) {
                $0.startupType = type
                $0.running = true
            }
            log.add(
                .information, "Service \(name): startup type \(type.rawValue) restored and started on the Upgrade Side",
                parent: ctx.parent)
        }
        try model.save(system)
    }

    /// A side's services after it boots: each runs when its startup type is Automatic.
    func bootServices(_ side: Side) throws(RDRError) {
        var model = try SystemModel.load(system)
        for svc in model.services { model.update(svc.name, side) { $0.running = $0.startupType == .Automatic } }
        try model.save(system)
    }
}
