// The pacsgate executable: everything lives in PacsgateApp.
import PacsgateApp

@main
struct Entry {
    static func main() async {
        await PacsgateCommand.main(nil)
    }
}
