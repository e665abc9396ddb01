"""The control operations an actor picks at random (pause, resume, retry,
cancel), the same on both engines: each calls the engine's _control(fn),
which picks one of the actor's open updates and calls bgupdate's function."""


class ControlOps:
    def op_pause(self):
        return self._control("pause")

    def op_resume(self):
        return self._control("resume")

    def op_retry(self):
        return self._control("retry")

    def op_cancel(self):
        return self._control("cancel")
