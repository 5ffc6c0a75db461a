import Foundation

/// Minimal SVG line charts (no plotting packages): one polyline per series, optional log axes.
enum Chart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]

    static func svg(title: String, xLabel: String, yLabel: String, series: [Series], logX: Bool, logY: Bool) -> String {
        let w = 720.0
        let h = 420.0
        let left = 80.0
        let right = 190.0
        let top = 40.0
        let bottom = 60.0
        let pts = series.flatMap(\.points).filter {
            $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0)
        }
        guard !pts.isEmpty else { return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>" }
        func t(_ v: Double, _ log: Bool) -> Double { log ? log10(v) : v }
        var x0 = pts.map { t($0.x, logX) }.min()!
        var x1 = pts.map { t($0.x, logX) }.max()!
        var y0 = logY ? pts.map { t($0.y, true) }.min()! : 0
        var y1 = pts.map { t($0.y, logY) }.max()!
        if logY {
            y0 = floor(y0)
            y1 = ceil(y1)
        } else {
            y1 *= 1.1
        }
        if logX {
            x0 = floor(x0)
            x1 = ceil(x1)
        }
        if x1 == x0 { x1 = x0 + 1 }
        if y1 == y0 { y1 = y0 + 1 }
        func px(_ x: Double) -> Double { left + (t(x, logX) - x0) / (x1 - x0) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - (t(y, logY) - y0) / (y1 - y0) * (h - top - bottom) }
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(w / 2 - 40)\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">\(escape(title))</text>\n"
        s += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        func ticks(_ a: Double, _ b: Double, _ log: Bool) -> [Double] {
            if log { return stride(from: a, through: b, by: 1).map { pow(10, $0) } }
            return (0...5).map { a + (b - a) * Double($0) / 5 }
        }
        for v in ticks(x0, x1, logX) {
            let x = px(v)
            s += "<line x1=\"\(x)\" y1=\"\(h - bottom)\" x2=\"\(x)\" y2=\"\(h - bottom + 5)\" stroke=\"black\"/>"
            s += "<text x=\"\(x)\" y=\"\(h - bottom + 18)\" text-anchor=\"middle\">\(label(v))</text>\n"
        }
        for v in ticks(y0, y1, logY) {
            let y = py(v)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(w - right)\" y2=\"\(y)\" stroke=\"#ddd\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(label(v))</text>\n"
        }
        s += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 15)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s +=
            "<text x=\"18\" y=\"\((top + h - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \((top + h - bottom) / 2))\">\(escape(yLabel))</text>\n"
        for (i, series) in series.enumerated() {
            let c = colors[i % colors.count]
            let valid = series.points.filter {
                $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) && (!logY || $0.y > 0)
            }
            let path = valid.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for p in valid { s += "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"3\" fill=\"\(c)\"/>" }
            let ly = top + 10 + Double(i) * 18
            s +=
                "\n<line x1=\"\(w - right + 15)\" y1=\"\(ly)\" x2=\"\(w - right + 35)\" y2=\"\(ly)\" stroke=\"\(c)\" stroke-width=\"3\"/>"
            s += "<text x=\"\(w - right + 40)\" y=\"\(ly + 4)\">\(escape(series.name))</text>\n"
        }
        return s + "</svg>\n"
    }

    static func label(_ v: Double) -> String {
        if v >= 1000 || (v > 0 && v < 0.01) { return String(format: "%g", v) }
        return v == v.rounded() ? String(Int(v)) : String(format: "%.2g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }
}
