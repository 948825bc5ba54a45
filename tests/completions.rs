//! `rmpack completions`: scripts for bash, zsh and fish; the bash one loads into bash and
//! registers a completion for `rmpack`.

use std::process::Command;

fn completions(shell: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(["completions", shell])
        .output()
        .unwrap()
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let output = completions("bash");
    assert!(output.status.success(), "{output:?}");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("rmpack.bash");
    std::fs::write(&script, &output.stdout).unwrap();
    // Load it, then ask the completion function what follows `rmpack val`.
    let probe = format!(
        "source {}; complete -p rmpack; COMP_WORDS=(rmpack val); COMP_CWORD=1; COMP_LINE='rmpack val'; COMP_POINT=10; _rmpack rmpack val rmpack; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let run = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{run:?}");
    assert!(stdout.contains("-F _rmpack rmpack"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "validate"), "{stdout}");
}

#[test]
fn zsh_and_fish_scripts_name_the_subcommands() {
    for (shell, header) in [("zsh", "#compdef rmpack"), ("fish", "complete -c rmpack")] {
        let output = completions(shell);
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains(header), "{shell}: {text}");
        assert!(
            text.contains("validate") && text.contains("load-timeout"),
            "{shell}"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let output = completions("tcsh");
    assert_eq!(output.status.code(), Some(2));
}
